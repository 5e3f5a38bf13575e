"""The source image of the animation job, brought to the model's square size: fitted
(``crop`` | ``pad`` | ``stretch``) or cut around its face (``crop_face``), with where
that square lies in the full image (for paste-back) and how many of the image's pixels
it spans (what ``--resolution auto`` renders at).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tpsmm.errors import TPSMMError, TPSMMNotice
from tpsmm.faces.crop import CropBox, crop_for_pose, crop_frame, fit_inside
from tpsmm.faces.tracking import (
    BOX_TO_SCALE,
    DETECTION_FACE,
    SMALLEST_FACE,
    FaceFinder,
    poses_of,
)
from tpsmm.media import FrameFitter, check_fit_mode, fit_frame, load_image

#: A source without a face found is searched once more enlarged to at most this many
#: pixels on its longer side, to tell a face too small from none.
ENLARGED_SIDE = 3000
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
    """The square crop around the face of a source image (the authors' margin): the
    largest face when there are several, which a :class:`TPSMMNotice` then says.

    Raises:
        TPSMMError: no face found, or one too small for the detector (said so).
    """
    poses = sorted(poses_of(finder.find_all(image)), key=lambda pose: -pose.scale)
    if not poses:
        raise TPSMMError(_no_face_message(image, finder, name))
    pose = poses[0]
    if len(poses) > 1:
        warnings.warn(
            f"{name}: {len(poses)} faces in the source image; --crop-face animates the "
            f"largest (about {BOX_TO_SCALE * pose.scale:.0f} pixels wide, centred at "
            f"{pose.cx:.0f},{pose.cy:.0f}); to animate another, crop the image around it",
            TPSMMNotice,
            stacklevel=2,
        )
    return fit_inside(crop_for_pose(pose), image.shape[1], image.shape[0])


def smallest_face(width: int, height: int) -> float:
    """About the smallest face width (pixels) :meth:`FaceFinder.find_all` finds in a
    ``width`` x ``height`` image."""
    return max(DETECTION_FACE / 2, SMALLEST_FACE * min(width, height))


def _no_face_message(image: np.ndarray, finder: FaceFinder, name: str) -> str:
    """Why no face was found: too small (found once more on an enlarged copy, at most
    :data:`ENLARGED_SIDE` pixels on its longer side), or none facing the camera."""
    height, width = image.shape[:2]
    smallest = smallest_face(width, height)
    enlarge = min(4.0, ENLARGED_SIDE / max(width, height))
    found = finder.detect(image, enlarge) if enlarge > 2.0 else []
    if found:
        seen = max(box.right - box.left for box in found)
        return (
            f"{name}: the face in the source image is too small for --crop-face (about "
            f"{seen:.0f} pixels wide; faces are found from about {smallest:.0f} pixels): "
            "use a larger image, or crop it yourself and leave out --crop-face"
        )
    return (
        f"{name}: no face found in the source image (--crop-face needs a face facing the "
        f"camera, at least about {smallest:.0f} pixels wide; crop the image yourself and "
        "leave out --crop-face)"
    )
