"""How driving keypoints drive the source (paper Sec. 3.4): standard, relative, avd, and
the motion scale (``--motion-scale``)."""

from __future__ import annotations

import math

from torch import Tensor

from tpsmm.errors import TPSMMError
from tpsmm.geometry import convex_hull_area

MODES: tuple[str, ...] = ("relative", "standard", "avd")


def check_mode(mode: str) -> str:
    """Return ``mode`` if it is one of :data:`MODES`, else raise a one-line error."""
    if mode not in MODES:
        raise TPSMMError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    return mode


def movement_scale(kp_source: Tensor, kp_driving_initial: Tensor) -> float:
    """sqrt(hull area of the source keypoints) / sqrt(hull area of the first driving
    frame's keypoints), each of the first sample's K*5 points (float64)."""
    source_area = float(convex_hull_area(kp_source[0]))
    driving_area = float(convex_hull_area(kp_driving_initial[0]))
    if driving_area <= 0:
        return 1.0
    return math.sqrt(source_area) / math.sqrt(driving_area)


def relative_keypoints(
    kp_source: Tensor,
    kp_driving: Tensor,
    kp_driving_initial: Tensor,
    scale: float | Tensor | None = None,
) -> Tensor:
    """Relative motion transfer: ``kp_source + (kp_driving - kp_driving_initial) * scale``.

    Args:
        kp_source: (1, K*5, 2) keypoints of the source image.
        kp_driving: (B, K*5, 2) keypoints of driving frames.
        kp_driving_initial: (1, K*5, 2) keypoints of the first driving frame.
        scale: :func:`movement_scale` of the first two (a number, or a tensor that
            broadcasts, e.g. (1, 1, 1)), computed when not given.

    Returns:
        (B, K*5, 2).
    """
    if scale is None:
        scale = movement_scale(kp_source, kp_driving_initial)
    return (kp_driving - kp_driving_initial) * scale + kp_source


def check_motion_scale(factor: float) -> float:
    """``factor`` as a float if it is a finite number >= 0, else a one-line error."""
    try:
        value = float(factor)
    except (TypeError, ValueError):
        value = float("nan")
    if not math.isfinite(value) or value < 0 or isinstance(factor, bool):
        raise TPSMMError(f"motion scale must be a number >= 0, got {factor!r}")
    return value


def scale_motion(kp_driving: Tensor, kp_reference: Tensor, factor: float) -> Tensor:
    """Driving keypoints with their motion since the reference frame scaled by ``factor``:
    ``kp_reference + (kp_driving - kp_reference) * factor``.

    0 holds the reference pose (a still result), 1 returns ``kp_driving`` unchanged,
    above 1 exaggerates. In relative mode this scales the transferred motion exactly:
    ``relative_keypoints(src, scale_motion(d, d0, f), d0, s) = src + (d - d0) * s * f``.

    Args:
        kp_driving: (B, K*5, 2); kp_reference: (1, K*5, 2) of the reference frame.
    """
    if factor == 1:
        return kp_driving
    return kp_reference + (kp_driving - kp_reference) * factor
