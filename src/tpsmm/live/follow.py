"""Following the driver's face in live camera frames, cheaply enough for every frame.

The face tracking of ``--crop-face`` (:mod:`tpsmm.faces.tracking`) looks at the whole
video before it places a crop (its smoothing looks ahead); a live picture has no
future frames, and dlib's HOG detector costs 15-25 ms a frame on a 320x240 picture
(two busy CPU cores), as much as the model. :class:`FaceFollower` runs the detector
only every :data:`DETECT_EVERY` frames (around where the face was, at the scale where
it works best: :meth:`FaceFinder.find_near`) and between detections places the
68-point landmarks (2-3 ms) in the box of the previous frame's landmarks, so the box
moves with the face. The crop (:func:`tpsmm.faces.crop.crop_for_pose`, the training
framing of ``--crop-face``) is smoothed by a :class:`OneEuroFilter`: steady when the
face is still, quick when it moves. A lost face keeps the last crop; the whole
picture is searched again every few frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tpsmm.faces.box import FaceBox
from tpsmm.faces.crop import CropBox, FacePose, crop_for_pose, face_pose, fit_inside
from tpsmm.faces.tracking import REACQUIRE_EVERY, FaceFinder, default_finder
from tpsmm.faces.tracking import _jumped as face_jumped  # the test of --crop-face

#: Frames between two runs of the face detector while the face is followed.
DETECT_EVERY = 10
#: The One Euro filter of the crop: its cutoff at rest (Hz) and how fast the cutoff
#: rises with the face's speed (per face scale per second).
MIN_CUTOFF_HZ = 1.0
SPEED_COEFFICIENT = 0.7


class OneEuroFilter:
    """An adaptive low-pass filter of a vector over irregular times (Casiez et al.'s
    1-euro filter): its cutoff frequency is ``min_cutoff + beta * |speed|``, so a slow
    signal is smoothed strongly and a fast one follows with little lag.

    Args:
        min_cutoff: the cutoff at rest (Hz); beta: the cutoff's rise per unit of speed
            (units of the values per second); speed_cutoff: the cutoff (Hz) of the
            speed estimate.
    """

    def __init__(self, min_cutoff: float, beta: float, speed_cutoff: float = 1.0) -> None:
        self.min_cutoff, self.beta, self.speed_cutoff = min_cutoff, beta, speed_cutoff
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None
        self.time: float | None = None

    def reset(self) -> None:
        """Forget the past: the next value passes unchanged."""
        self.value = self.speed = self.time = None

    def __call__(self, value: np.ndarray, time: float) -> np.ndarray:
        """The filtered ``value`` (any shape) seen at ``time`` seconds."""
        value = np.asarray(value, dtype=np.float64)
        if self.value is None or self.time is None or time <= self.time:
            if self.value is None or self.time is None:
                self.value, self.speed, self.time = value.copy(), np.zeros_like(value), time
            return self.value.copy()
        elapsed = time - self.time
        speed = (value - self.value) / elapsed
        assert self.speed is not None
        self.speed = self.speed + _smoothing(self.speed_cutoff, elapsed) * (speed - self.speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self.speed)
        self.value = self.value + _smoothing(cutoff, elapsed) * (value - self.value)
        self.time = time
        return self.value.copy()


def _smoothing(cutoff: float | np.ndarray, elapsed: float) -> float | np.ndarray:
    """The exponential smoothing factor of a first-order low-pass at ``cutoff`` Hz."""
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / elapsed)


@dataclass
class _Followed:
    """The face of the last frame: its pose and landmarks (68, 2)."""

    pose: FacePose
    points: np.ndarray


class FaceFollower:
    """Follows the largest face through live frames and gives the crop for each.

    Args:
        finder: dlib's detector and landmarks (the process's shared one by default).
        detect_every: frames between detections while the face is followed.

    Raises:
        TPSMMError: the ``eval`` extra is missing.
    """

    def __init__(self, finder: FaceFinder | None = None, *, detect_every: int = DETECT_EVERY):
        self.finder = finder or default_finder()
        self.detect_every = detect_every
        self.filter = OneEuroFilter(MIN_CUTOFF_HZ, SPEED_COEFFICIENT)
        self._face: _Followed | None = None  # None while lost
        self._last_pose: FacePose | None = None
        self._since_detection = 0
        self._lost_for = 0
        self._box: CropBox | None = None
        #: Whether the face was found in the last frame.
        self.found = False

    def update(self, frame: np.ndarray, time: float) -> CropBox | None:
        """The crop for ``frame`` (H, W, 3) uint8 seen at ``time`` seconds: around the
        face, smoothed, inside the frame; the last crop when the face is lost; None
        until a face has been found."""
        face = self._find(frame)
        self.found = face is not None
        if face is None:
            self._lost_for += 1
            return self._box
        self._lost_for = 0
        if self._last_pose is not None and face_jumped(self._last_pose, face.pose):
            self.filter.reset()  # another face, or a cut: no smoothing across it
        self._face, self._last_pose = face, face.pose
        scale = face.pose.scale
        normalised = np.array([face.pose.cx / scale, face.pose.cy / scale, math.log(scale)])
        cx_s, cy_s, log_scale = self.filter(normalised, time)
        smoothed_scale = math.exp(log_scale)
        pose = FacePose(cx_s * smoothed_scale, cy_s * smoothed_scale, smoothed_scale)
        height, width = frame.shape[:2]
        self._box = fit_inside(crop_for_pose(pose), width, height)
        return self._box

    def _find(self, frame: np.ndarray) -> _Followed | None:
        last = self._face
        if last is not None and self._since_detection < self.detect_every:
            followed = self._follow(frame, last)
            if followed is not None:
                self._since_detection += 1
                return followed
        if last is not None:
            found = _closest(self.finder.find_near(frame, last.pose), last.pose)
        elif self._lost_for % REACQUIRE_EVERY == 0:
            found = _closest(self.finder.find_all(frame, largest=True), None)
        else:
            found = None
        self._face = found
        self._since_detection = 0
        return found

    def _follow(self, frame: np.ndarray, last: _Followed) -> _Followed | None:
        """The landmarks placed in the box of the last frame's landmarks."""
        height, width = frame.shape[:2]
        points = last.points
        left, top = max(0.0, points[:, 0].min()), max(0.0, points[:, 1].min())
        right, bottom = min(width, points[:, 0].max() + 1), min(height, points[:, 1].max() + 1)
        if right - left < 2 or bottom - top < 2:
            return None
        landmarks = self.finder.landmarks(frame, FaceBox(left, top, right, bottom))
        try:
            pose = face_pose(landmarks)
        except ValueError:
            return None
        if face_jumped(last.pose, pose):
            return None
        return _Followed(pose, landmarks)


def _closest(candidates: list[np.ndarray], near: FacePose | None) -> _Followed | None:
    """The face among landmark sets nearest to ``near`` (the largest without one)."""
    faces = []
    for points in candidates:
        try:
            faces.append(_Followed(face_pose(points), points))
        except ValueError:
            continue
    if not faces:
        return None
    if near is None:
        return max(faces, key=lambda face: face.pose.scale)
    return min(faces, key=lambda face: math.hypot(face.pose.cx - near.cx, face.pose.cy - near.cy))
