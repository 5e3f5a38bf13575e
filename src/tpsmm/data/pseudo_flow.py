"""Pseudo ground truth for real videos: an optical flow measured between the two frames.

Real training pairs carry no true motion. With ``dataset_params.pseudo_flow`` the
dataset measures one: OpenCV's DIS optical flow (Kroeger et al., ECCV 2016; the
``medium`` preset) from the driving frame to the source and back, kept only where the
two agree (the forward-backward check of Sundaram et al., ECCV 2010): a driving pixel
``x`` with forward flow ``f(x)`` is kept when

    |f(x) + b(x + f(x))|^2 <= ALPHA * (|f(x)|^2 + |b(x + f(x))|^2) + BETA

(``b``: the backward flow, sampled bilinearly; pixels; ``ALPHA`` 0.01, ``BETA`` 0.5 at a
128-pixel frame, scaled with the frame), ``x + f(x)`` lies inside the source, and the
source there looks like the driving pixel (grey levels within ``PHOTOMETRIC`` of each
other, in [0, 1]). Where a part of the driving frame is hidden in the source (an opening
mouth, a turning head), the flows disagree or the colours do, and the pixel is dropped
(a flat patch that appears, such as teeth, can fool the first check but not the second);
what remains is a dense, noisy stand-in
for the true deformation, in the dataset's ground-truth convention: for each driving
pixel, the normalised (x, y) of its point in the source (align_corners=True).

OpenCV (``cv2``) is not a dependency of tpsmm: it comes with the ``body`` extra
(MediaPipe's ``opencv-contrib-python``) or ``pip install opencv-python-headless``.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from tpsmm.errors import ConfigError

__all__ = ["ALPHA", "BETA", "PHOTOMETRIC", "pseudo_flow"]

#: Forward-backward agreement (see the module doc).
ALPHA = 0.01
BETA = 0.5
#: The frame side at which BETA is given; it scales with the side squared (pixels^2).
BETA_SIDE = 128
#: Largest grey-level difference between a driving pixel and its source point.
PHOTOMETRIC = 0.1


def import_cv2() -> Any:
    """OpenCV, or a ConfigError saying how to install it."""
    try:
        import cv2
    except ImportError:
        raise ConfigError(
            "dataset_params.pseudo_flow needs OpenCV: pip install 'tpsmm[body]' "
            "(or opencv-python-headless)"
        ) from None
    return cv2


@functools.cache
def _dis() -> Any:
    """One DIS optical flow object per process (cheap to call, not thread-safe: the
    DataLoader's workers are processes)."""
    cv2 = import_cv2()
    return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)


def _grey(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] or uint8 -> (H, W) uint8 luma (ITU-R 601)."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        frame = np.clip(np.rint(frame * 255.0), 0, 255).astype(np.uint8)
    luma = frame[..., 0] * 0.299 + frame[..., 1] * 0.587 + frame[..., 2] * 0.114
    return np.ascontiguousarray(np.clip(np.rint(luma), 0, 255).astype(np.uint8))


def _sample(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear samples of an (H, W, C) field at pixel positions (x, y) (clamped)."""
    height, width = field.shape[:2]
    x = np.clip(x, 0, width - 1)
    y = np.clip(y, 0, height - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), width - 2)
    y0 = np.minimum(np.floor(y).astype(np.int64), height - 2)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = field[y0, x0] * (1 - fx) + field[y0, x0 + 1] * fx
    bottom = field[y0 + 1, x0] * (1 - fx) + field[y0 + 1, x0 + 1] * fx
    return top * (1 - fy) + bottom * fy


def pseudo_flow(source: np.ndarray, driving: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The measured deformation from ``driving`` to ``source`` and where it is trusted.

    Args:
        source, driving: (H, W, 3) frames, float in [0, 1] or uint8, of one size
            (at least 16 pixels a side).

    Returns:
        ``(deformation, valid)``: (H, W, 2) float32, for each driving pixel the
        normalised (x, y) of its point in the source; (H, W) bool.
    """
    height, width = np.asarray(driving).shape[:2]
    dis = _dis()
    grey_source, grey_driving = _grey(source), _grey(driving)
    forward = dis.calc(grey_driving, grey_source, None).astype(np.float64)  # driving -> source
    backward = dis.calc(grey_source, grey_driving, None).astype(np.float64)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    target_x, target_y = xs + forward[..., 0], ys + forward[..., 1]
    back = _sample(backward, target_x, target_y)
    error = ((forward + back) ** 2).sum(-1)
    beta = BETA * (max(height, width) / BETA_SIDE) ** 2
    agree = error <= ALPHA * ((forward**2).sum(-1) + (back**2).sum(-1)) + beta
    inside = (target_x >= 0) & (target_x <= width - 1) & (target_y >= 0) & (target_y <= height - 1)
    seen = _sample(grey_source[..., None].astype(np.float64), target_x, target_y)[..., 0]
    alike = np.abs(seen - grey_driving) <= PHOTOMETRIC * 255
    deformation = np.stack(
        (2.0 * target_x / (width - 1) - 1.0, 2.0 * target_y / (height - 1) - 1.0), axis=-1
    ).astype(np.float32)
    return deformation, agree & inside & alike
