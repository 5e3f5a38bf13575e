"""The source image of the animation job, brought to the model's square size: fitted
(``crop`` | ``pad`` | ``stretch``) or cut around its face (``crop_face``), with where
that square lies in the full image (for paste-back).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tpsmm.errors import TPSMMError
from tpsmm.faces.crop import CropBox, crop_for_pose, crop_frame, fit_inside
from tpsmm.faces.tracking import FaceFinder, find_face
from tpsmm.media import FrameFitter, check_fit_mode, fit_frame, load_image

#: What the job takes as a source: an image path or an (H, W, 3) uint8 RGB array.
SourceInput = str | os.PathLike | np.ndarray


def read_source(source: SourceInput) -> tuple[np.ndarray, Path | None, str]:
    """The source image, (H, W, 3) uint8, with its file (None for an array) and how
    messages name it.

    Raises:
        TPSMMError: not a readable image (MediaError), not (H, W, 3) uint8.
    """
    if isinstance(source, np.ndarray):
        image, path, name = source, None, "source image"
    else:
        image = load_image(source)
        path, name = Path(source), str(source)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise TPSMMError(f"source image must be (H, W, 3) uint8, got {image.shape}")
    return image, path, name


def frame_source(
    image: np.ndarray,
    size: int,
    *,
    fit: str,
    finder: FaceFinder | None = None,
    name: str = "source image",
) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The source as the model sees it, (S, S, 3) uint8 for S = ``size``, and where it
    lies in ``image`` (l, t, r, b pixels): cut around the face found by ``finder``
    when given (``crop_face``), else fitted with ``fit``.

    Raises:
        TPSMMError: no face found.
    """
    if finder is not None:
        box = source_face_box(image, finder, name)
        return crop_frame(image, box, size), box.bounds
    return fit_frame(image, size, fit), fit_rect(image.shape[1], image.shape[0], fit)


def fit_rect(width: int, height: int, fit: str) -> tuple[float, float, float, float]:
    """Where the model's square frame lies in a ``width`` x ``height`` image fitted with
    ``fit`` (l, t, r, b pixels): the centre square (crop), the whole image (stretch),
    the square around it that the padding completes (pad)."""
    fitter = FrameFitter((width, height), 1, check_fit_mode(fit))
    if fit == "crop":
        return tuple(float(v) for v in fitter.box)  # type: ignore[return-value]
    if fit == "stretch":
        return (0.0, 0.0, float(width), float(height))
    side = float(max(width, height))
    return ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)


def source_face_box(image: np.ndarray, finder: FaceFinder, name: str) -> CropBox:
    """The square crop around the face of a source image (the authors' margin).

    Raises:
        TPSMMError: no face found.
    """
    pose = find_face(image, finder)
    if pose is None:
        raise TPSMMError(
            f"{name}: no face found in the source image (--crop-face "
            "needs a frontal face; crop the image yourself and leave out --crop-face)"
        )
    return fit_inside(crop_for_pose(pose), image.shape[1], image.shape[0])
