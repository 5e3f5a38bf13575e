"""How driving keypoints drive the source (paper Sec. 3.4): standard, relative, avd."""

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
