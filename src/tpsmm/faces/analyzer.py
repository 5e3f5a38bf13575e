"""One pass of dlib over a frame: face boxes, 68-point landmarks, 128-d embeddings.

:class:`FaceAnalyzer` splits the work into its three steps so that one detection serves
both the landmarks and the embedding, and so that a caller with its own face box (a
tracker, a crop it made) skips the detector:

>>> analyzer = FaceAnalyzer()
>>> face = analyzer.analyze(frame, embedding=True)          # detect, landmarks, embed
>>> face = analyzer.analyze(frame, box=my_box)              # landmarks in a given box
>>> boxes = analyzer.detect(frame)                          # every face, largest first
>>> points = analyzer.landmarks(frame, boxes[0])            # (68, 2)
>>> vector = analyzer.embedding(frame, boxes[0], points)    # (128,)

Images are (H, W, 3) uint8 RGB arrays (copied to C order when they are not: dlib reads
a strided view wrongly). Landmarks are (68, 2) float64 (x, y) pixel coordinates in the
iBUG 300-W order (jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, mouth 48-67); dlib
gives whole pixels. Embeddings are (128,) float64 from dlib's ResNet on the face
aligned by its landmarks (dlib's ``get_face_chip`` alignment, 150 x 150, padding 0.25);
two photos of one person are usually within 0.6 of each other (Euclidean).

Detectors: ``"hog"`` (default; dlib's frontal face detector, about 12 frames per second
at 256 x 256 with ``upsample=1`` on a 2-core CPU, finds faces from about 40 pixels wide
at that setting and 80 without upsampling) or ``"cnn"`` (dlib's MMOD CNN, finds turned
and small faces, several times slower).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Literal

import numpy as np

from tpsmm.faces.box import FaceBox
from tpsmm.faces.models import (
    import_dlib,
    load_cnn_detector,
    load_embedding_model,
    load_hog_detector,
    load_shape_predictor,
)

__all__ = [
    "EMBEDDING_SIZE",
    "NUM_LANDMARKS",
    "Detector",
    "DlibLandmarks",
    "Face",
    "FaceAnalyzer",
    "LandmarkFunction",
    "as_dlib_image",
]

NUM_LANDMARKS = 68
EMBEDDING_SIZE = 128
Detector = Literal["hog", "cnn"]

#: (H, W, 3) uint8 RGB image -> (68, 2) landmarks (x, y) in pixels, or None without a face.
LandmarkFunction = Callable[[np.ndarray], "np.ndarray | None"]


@dataclass(frozen=True)
class Face:
    """What :meth:`FaceAnalyzer.analyze` finds for one face.

    Attributes:
        box: the face box (the detector's, or the one the caller gave).
        landmarks: (68, 2) float64 pixel coordinates (x, y).
        embedding: (128,) float64 identity embedding, or None when not asked for.
    """

    box: FaceBox
    landmarks: np.ndarray
    embedding: np.ndarray | None = None


def as_dlib_image(image: np.ndarray) -> np.ndarray:
    """``image`` as the C-ordered (H, W, 3) uint8 array dlib needs.

    Raises:
        ValueError: not an (H, W, 3) uint8 array.
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got {getattr(image, 'dtype', type(image))}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
    return np.ascontiguousarray(image)


class FaceAnalyzer:
    """dlib's face detector, 68-point landmarks and 128-d embeddings (see the module doc).

    Models load on first use and are shared by every analyzer of the process.

    Args:
        detector: ``"hog"`` or ``"cnn"``.
        upsample: how many times the detector doubles the image first (1 finds faces
            down to about 40 pixels wide with HOG; each step costs about 4x).
        threshold: added to the HOG detector's decision threshold (dlib's
            ``adjust_threshold``; 0 is dlib's default, lower finds more faces and more
            false ones). Ignored by the CNN detector.
        needed_by: names the feature in the message when the extra is missing.

    Raises:
        TPSMMError: the ``eval`` extra is not installed.
    """

    def __init__(
        self,
        *,
        detector: Detector = "hog",
        upsample: int = 1,
        threshold: float = 0.0,
        needed_by: str | None = None,
    ) -> None:
        if detector not in ("hog", "cnn"):
            raise ValueError(f"detector must be 'hog' or 'cnn', got {detector!r}")
        if upsample < 0:
            raise ValueError(f"upsample must be >= 0, got {upsample}")
        self._dlib = import_dlib(needed_by)
        self.detector = detector
        self.upsample = upsample
        self.threshold = float(threshold)
        self.needed_by = needed_by

    @cached_property
    def _hog(self) -> Any:
        return load_hog_detector(self.needed_by)

    @cached_property
    def _cnn(self) -> Any:
        return load_cnn_detector(self.needed_by)

    @cached_property
    def _predictor(self) -> Any:
        return load_shape_predictor(self.needed_by)

    @cached_property
    def _embedder(self) -> Any:
        return load_embedding_model(self.needed_by)

    def load(self, *, embedding: bool = False) -> None:
        """Load the models now (else on first use), to time or fail early."""
        _ = self._hog if self.detector == "hog" else self._cnn
        _ = self._predictor
        if embedding:
            _ = self._embedder

    def detect(self, image: np.ndarray) -> list[FaceBox]:
        """Every face in ``image``, largest first (ties: higher score first)."""
        image = as_dlib_image(image)
        if self.detector == "hog":
            rects, scores, _ = self._hog.run(image, self.upsample, self.threshold)
            boxes = [FaceBox.from_dlib(r, s) for r, s in zip(rects, scores, strict=True)]
        else:
            boxes = [
                FaceBox.from_dlib(d.rect, d.confidence) for d in self._cnn(image, self.upsample)
            ]
        return sorted(boxes, key=lambda box: (-box.area, -box.score))

    def landmarks(self, image: np.ndarray, box: FaceBox) -> np.ndarray:
        """(68, 2) float64 landmarks of the face in ``box``."""
        shape = self._predictor(as_dlib_image(image), box.to_dlib(self._dlib))
        return np.array([(part.x, part.y) for part in shape.parts()], dtype=np.float64)

    def embedding(self, image: np.ndarray, box: FaceBox, landmarks: np.ndarray) -> np.ndarray:
        """(128,) float64 identity embedding of the face with these landmarks."""
        dlib = self._dlib
        points = np.rint(np.asarray(landmarks, dtype=np.float64)).astype(np.int64)
        if points.shape != (NUM_LANDMARKS, 2):
            raise ValueError(f"expected (68, 2) landmarks, got shape {points.shape}")
        shape = dlib.full_object_detection(
            box.to_dlib(dlib), dlib.points([dlib.point(int(x), int(y)) for x, y in points])
        )
        vector = self._embedder.compute_face_descriptor(as_dlib_image(image), shape)
        return np.array(vector, dtype=np.float64)

    def analyze(
        self, image: np.ndarray, box: FaceBox | None = None, *, embedding: bool = False
    ) -> Face | None:
        """The largest face of ``image`` (or the face in ``box``): landmarks, and the
        embedding when asked; None when no face is found."""
        image = as_dlib_image(image)
        if box is None:
            boxes = self.detect(image)
            if not boxes:
                return None
            box = boxes[0]
        points = self.landmarks(image, box)
        vector = self.embedding(image, box, points) if embedding else None
        return Face(box, points, vector)


class DlibLandmarks:
    """A :data:`LandmarkFunction`: the 68 landmarks of the largest face, or None.

    Args:
        upsample: as for :class:`FaceAnalyzer`.
        needed_by: as for :class:`FaceAnalyzer`.
        analyzer: use this analyzer (its settings win over ``upsample``).
    """

    def __init__(
        self,
        upsample: int = 1,
        *,
        needed_by: str | None = None,
        analyzer: FaceAnalyzer | None = None,
    ) -> None:
        self.analyzer = analyzer or FaceAnalyzer(upsample=upsample, needed_by=needed_by)
        self.analyzer.load()  # a missing model file fails here, before any work

    def __call__(self, image: np.ndarray) -> np.ndarray | None:
        face = self.analyzer.analyze(image)
        return None if face is None else face.landmarks
