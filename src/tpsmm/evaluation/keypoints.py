"""Keypoint extractors for the metrics: faces (dlib) and bodies (MediaPipe Pose).

An extractor maps one (H, W, 3) uint8 RGB frame to :class:`~.metrics.FramePoints`
(keypoints in pixels, which are present, and an identity embedding when asked for and
available). Coordinates follow :mod:`tpsmm.faces`: pixel (column c, row r) at (c, r).

* :class:`FaceKeypoints`: the largest face's 68 dlib landmarks and its 128-d dlib
  embedding, from one detection (:class:`tpsmm.faces.FaceAnalyzer`); the ``eval``
  extra. The HOG detector runs with its threshold lowered by 0.2 (:data:`FACE_THRESHOLD`):
  at dlib's own threshold it missed 7 of 255 frames of the bundled sample (its frames
  and copies shifted by a few pixels, at 256 x 256), scoring them between -0.07 and 0;
  at -0.2 it found all of them and still no face in 86 images without one (upside-down
  frames, magnified corners, noise, smooth random blobs).
* :class:`BodyKeypoints`: the 33 landmarks of MediaPipe Pose (BlazePose GHUM, the
  "full" model) of the most prominent person, each present when its visibility is at
  least 0.5; the ``body`` extra. Frames are independent (static-image mode, no
  tracking or smoothing across frames). Only the "full" model ships in the MediaPipe
  wheel; the "lite" and "heavy" ones would be downloaded at run time, so tpsmm does not
  offer them. No identity embedding: see :mod:`.metrics`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from tpsmm.errors import TPSMMError
from tpsmm.evaluation.metrics import FramePoints
from tpsmm.faces import NUM_LANDMARKS, Detector, FaceAnalyzer

__all__ = [
    "BODY_EXTRA_MISSING",
    "BODY_KEYPOINTS",
    "KINDS",
    "BodyKeypoints",
    "FaceKeypoints",
    "KeypointExtractor",
    "Kind",
    "make_extractor",
]

Kind = Literal["face", "body"]
KINDS: tuple[Kind, ...] = ("face", "body")
BODY_KEYPOINTS = 33
BODY_EXTRA_MISSING = "--kind body needs the body extra: pip install 'tpsmm[body]'"
#: MediaPipe's model files for Pose with model_complexity=1, inside its package.
_POSE_MODELS = (
    "modules/pose_detection/pose_detection.tflite",
    "modules/pose_landmark/pose_landmark_full.tflite",
)
VISIBILITY_THRESHOLD = 0.5
#: The HOG detector's threshold adjustment for the face metrics (see the module doc).
FACE_THRESHOLD = -0.2


class KeypointExtractor(Protocol):
    """What the metrics need from a keypoint detector."""

    #: ``"face"`` or ``"body"``.
    kind: str
    #: K, the number of keypoints per frame.
    num_keypoints: int
    #: Whether :meth:`__call__` can give identity embeddings.
    has_identity: bool
    #: A short description for reports.
    description: str

    def __call__(self, frame: np.ndarray, *, embedding: bool = False) -> FramePoints: ...


class FaceKeypoints:
    """68 dlib landmarks and the 128-d embedding of the largest face.

    Args:
        detector, upsample: as for :class:`tpsmm.faces.FaceAnalyzer`.
        embedding: load the embedding network now (else on first use).
    """

    kind = "face"
    num_keypoints = NUM_LANDMARKS
    has_identity = True

    def __init__(self, detector: Detector = "hog", upsample: int = 1, *, embedding: bool = True):
        self.analyzer = FaceAnalyzer(
            detector=detector,
            upsample=upsample,
            threshold=FACE_THRESHOLD,
            needed_by="the face metrics",
        )
        self.analyzer.load(embedding=embedding)
        threshold = f", threshold {FACE_THRESHOLD:+g}" if detector == "hog" else ""
        self.description = (
            f"dlib {detector} face detector (upsample {upsample}{threshold}), 68-point "
            "shape predictor, dlib_face_recognition_resnet_model_v1 embeddings"
        )

    def __call__(self, frame: np.ndarray, *, embedding: bool = False) -> FramePoints:
        face = self.analyzer.analyze(frame, embedding=embedding)
        if face is None:
            return FramePoints.nothing(NUM_LANDMARKS)
        return FramePoints(face.landmarks, np.ones(NUM_LANDMARKS, dtype=bool), face.embedding)


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null meanwhile: MediaPipe's C++ code logs
    warnings there (XNNPACK delegate, feedback tensors, ROI projection) that no setting
    turns off. Python exceptions still carry MediaPipe's errors."""
    with open(os.devnull, "w") as devnull:
        saved = os.dup(2)
        try:
            os.dup2(devnull.fileno(), 2)
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def _mediapipe_pose() -> Any:
    """MediaPipe's legacy Pose solution module, after checking that its model files are in
    the package (so that nothing is downloaded)."""
    try:
        import mediapipe
        from mediapipe.python.solutions import pose
    except ImportError:
        raise TPSMMError(BODY_EXTRA_MISSING) from None
    root = Path(mediapipe.__file__).parent
    for name in _POSE_MODELS:
        if not (root / name).is_file():
            raise TPSMMError(f"{BODY_EXTRA_MISSING} ({name} is missing from {root})")
    return pose


class BodyKeypoints:
    """The 33 MediaPipe Pose landmarks of the most prominent person (see the module doc).

    Args:
        min_detection_confidence: the person detector's threshold (MediaPipe's default).
    """

    kind = "body"
    num_keypoints = BODY_KEYPOINTS
    has_identity = False

    def __init__(self, min_detection_confidence: float = 0.5) -> None:
        pose = _mediapipe_pose()
        # the graph opens its calculators in its own threads; one frame waits for that
        with _native_stderr_silenced():
            self._pose = pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                smooth_landmarks=False,
                enable_segmentation=False,
                min_detection_confidence=min_detection_confidence,
            )
            self._pose.process(np.zeros((64, 64, 3), np.uint8))
        self.description = (
            "MediaPipe Pose 0.10.21 (BlazePose GHUM full, static-image mode), "
            f"landmarks with visibility >= {VISIBILITY_THRESHOLD}"
        )

    def __call__(self, frame: np.ndarray, *, embedding: bool = False) -> FramePoints:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 frame, got {frame.dtype} {frame.shape}")
        with _native_stderr_silenced():
            result = self._pose.process(np.ascontiguousarray(frame))
        if result.pose_landmarks is None:
            return FramePoints.nothing(BODY_KEYPOINTS)
        height, width = frame.shape[:2]
        values = np.array(
            [(mark.x, mark.y, mark.visibility) for mark in result.pose_landmarks.landmark],
            dtype=np.float64,
        )
        # normalised [0, 1] image extent -> pixel centres at integer coordinates
        points = values[:, :2] * (width, height) - 0.5
        return FramePoints(points, values[:, 2] >= VISIBILITY_THRESHOLD, None)

    def close(self) -> None:
        """Release MediaPipe's graph."""
        self._pose.close()


def make_extractor(
    kind: str, *, identity: bool = True, face_detector: Detector = "hog", upsample: int = 1
) -> KeypointExtractor:
    """The keypoint extractor for ``kind`` (``"face"`` or ``"body"``).

    Raises:
        TPSMMError: the extra it needs is missing.
    """
    if kind == "face":
        return FaceKeypoints(face_detector, upsample, embedding=identity)
    if kind == "body":
        return BodyKeypoints()
    raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
