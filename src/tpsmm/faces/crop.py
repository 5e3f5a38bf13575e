"""Square face crops: where they are, how big, and how frames are cut to them.

Conventions: pixel coordinates with (0, 0) at the top-left corner of the top-left
pixel, x to the right, y down, in floats (a crop may start mid-pixel: cutting with
sub-pixel accuracy keeps smoothed boxes from jumping by whole pixels). A
:class:`CropBox` is an axis-aligned square given by its centre and side.

The framing follows the authors' training crops: the bundled driving video is a crop
in the authors' style (a VoxCeleb test clip), and :data:`FACE_TO_CROP` and
:data:`CENTRE_SHIFT` are set so that the crop found for it is the video's own frame
(measured on its 169 frames; see ``benchmarks/face_tracking.py``). The face's
position and size come from its rigid landmarks (eyes and nose, which do not move
when the person talks), so the crop does not breathe with the mouth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tpsmm.media.fit import resize_box

#: dlib's 68-point indices of the points that keep their place on the head when the
#: face moves: the nose (27-35) and the eyes (36-47).
RIGID_POINTS: tuple[int, ...] = tuple(range(27, 48))
#: Crop side / face scale (the RMS distance of the rigid points from their centre):
#: 9.14 on the bundled video (median of its 169 frames; 5th-95th percentile 8.8-9.6).
FACE_TO_CROP: float = 9.1
#: Offset of the crop's centre from the rigid points' centre, in face scales (x, y;
#: negative y is up): the crop reaches higher, over the forehead and hair (-0.43 on
#: the bundled video; its x offset, 0.08, is the speaker's habit and is left out).
CENTRE_SHIFT: tuple[float, float] = (0.0, -0.43)


@dataclass(frozen=True)
class CropBox:
    """An axis-aligned square in pixel coordinates: centre (cx, cy) and side."""

    cx: float
    cy: float
    side: float

    @property
    def left(self) -> float:
        return self.cx - self.side / 2

    @property
    def top(self) -> float:
        return self.cy - self.side / 2

    @property
    def right(self) -> float:
        return self.cx + self.side / 2

    @property
    def bottom(self) -> float:
        return self.cy + self.side / 2

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom)."""
        return self.left, self.top, self.right, self.bottom

    def as_array(self) -> np.ndarray:
        """(3,) float64: cx, cy, side."""
        return np.array([self.cx, self.cy, self.side], dtype=np.float64)

    @classmethod
    def from_array(cls, values: np.ndarray) -> CropBox:
        """From (cx, cy, side)."""
        cx, cy, side = (float(v) for v in values)
        return cls(cx, cy, side)


@dataclass(frozen=True)
class FacePose:
    """Where a face is: the centre of its rigid landmarks (x, y) and its scale (the RMS
    distance of those points from their centre), in pixels."""

    cx: float
    cy: float
    scale: float

    def as_array(self) -> np.ndarray:
        return np.array([self.cx, self.cy, self.scale], dtype=np.float64)


def face_pose(landmarks: np.ndarray) -> FacePose:
    """The :class:`FacePose` of 68 landmarks ((68, 2) pixel x, y as dlib gives them).

    Raises:
        ValueError: not 68 points, or the rigid points coincide.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got shape {points.shape}")
    rigid = points[list(RIGID_POINTS)]
    centre = rigid.mean(axis=0)
    scale = float(np.sqrt(((rigid - centre) ** 2).sum(axis=1).mean()))
    if not scale > 0:
        raise ValueError("the face's landmarks coincide")
    return FacePose(float(centre[0]), float(centre[1]), scale)


def crop_for_pose(
    pose: FacePose | np.ndarray,
    *,
    face_to_crop: float = FACE_TO_CROP,
    centre_shift: tuple[float, float] = CENTRE_SHIFT,
) -> CropBox:
    """The training-style square crop around a face (see the module docstring).

    Args:
        pose: a :class:`FacePose`, or (3,) cx, cy, scale.
        face_to_crop: crop side in face scales; centre_shift: offset of the crop's
            centre from the face's, in face scales (positive y: lower).
    """
    cx, cy, scale = (float(v) for v in (pose.as_array() if isinstance(pose, FacePose) else pose))
    return CropBox(cx + centre_shift[0] * scale, cy + centre_shift[1] * scale, face_to_crop * scale)


def fit_inside(box: CropBox, width: int, height: int) -> CropBox:
    """``box`` moved (and shrunk if it must be) to lie inside a ``width`` x ``height``
    frame: a side larger than the frame's shorter side becomes that side; then the
    square is shifted, not cut, so it stays square and shows only real pixels."""
    side = min(box.side, float(width), float(height))
    cx = min(max(box.cx, side / 2), width - side / 2)
    cy = min(max(box.cy, side / 2), height - side / 2)
    return CropBox(cx, cy, side)


def crop_frame(frame: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Cut ``box`` out of an (H, W, 3) uint8 frame and resize it to (size, size, 3) uint8,
    with sub-pixel accuracy (see :func:`tpsmm.media.fit.resize_box`; parts of the box
    outside the frame repeat its edge pixels)."""
    return resize_box(frame, box.bounds, (size, size))


def box_iou(first: CropBox, second: CropBox) -> float:
    """Intersection over union of two squares (0 when they do not meet)."""
    width = min(first.right, second.right) - max(first.left, second.left)
    height = min(first.bottom, second.bottom) - max(first.top, second.top)
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    return inter / (first.side**2 + second.side**2 - inter)
