"""The source image of the animation job, brought to the model's square size: fitted
(``crop`` | ``pad`` | ``stretch``) or cut around its face (``crop_face``), with where
that square lies in the full image (for paste-back) and how many of the image's pixels
it spans (what ``--resolution auto`` renders at).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
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


@dataclass(frozen=True)
class SourceFraming:
    """Where the square the model animates lies in the source image.

    Attributes:
        rect: (l, t, r, b) pixels of the image (may reach outside it with ``pad``).
        fit: the fit mode, used when there is no ``box``.
        box: the face crop (``crop_face``), or None.
    """

    rect: tuple[float, float, float, float]
    fit: str
    box: CropBox | None = None

    @property
    def native_side(self) -> float:
        """The square's side in the image's pixels (the longer side of a stretched
        non-square image)."""
        left, top, right, bottom = self.rect
        return max(right - left, bottom - top)

    def cut(self, image: np.ndarray, size: int) -> np.ndarray:
        """The square cut from ``image`` (H, W, 3) uint8 at ``size`` x ``size`` uint8."""
        if self.box is not None:
            return crop_frame(image, self.box, size)
        return fit_frame(image, size, self.fit)


def source_framing(
    image: np.ndarray,
    *,
    fit: str,
    finder: FaceFinder | None = None,
    name: str = "source image",
) -> SourceFraming:
    """The :class:`SourceFraming` of ``image``: around the face found by ``finder`` when
    given (``crop_face``), else the square of ``fit``.

    Raises:
        TPSMMError: no face found.
    """
    if finder is not None:
        box = source_face_box(image, finder, name)
        return SourceFraming(box.bounds, fit, box)
    return SourceFraming(fit_rect(image.shape[1], image.shape[0], fit), fit)


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
