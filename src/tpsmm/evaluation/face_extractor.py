"""The face detector of ``tpsmm benchmark-faces``: dlib on training-style face crops.

Every frame the benchmark measures is a square crop with the framing of the training
crops (:mod:`tpsmm.faces.crop`: the crop's side is :data:`~tpsmm.faces.crop.FACE_TO_CROP`
face scales), so the face's size is known from the frame's: dlib's HOG box is about
``BOX_TO_SCALE / FACE_TO_CROP`` = 0.54 of the side. :class:`CropFaceKeypoints` runs the
HOG detector (without upsampling, its threshold lowered by
:data:`~tpsmm.evaluation.keypoints.FACE_THRESHOLD` as for the face metrics) on the frame
scaled so that such a face is :data:`~tpsmm.faces.tracking.DETECTION_FACE` pixels wide,
where the detector is most reliable (:class:`tpsmm.faces.tracking.FaceFinder`), then
places the 68 landmarks and computes the embedding on the full frame.

Measured at 256 x 256 on the bundled driving video (169 frames) and 5 held-out face
clips (1,035 frames): a face in every frame, at 11-19 ms a frame on a loaded 2-core CPU;
the metrics' detector (:class:`~tpsmm.evaluation.keypoints.FaceKeypoints`) missed 3 of
the bundled video's frames without upsampling (16-27 ms) and found all with it (55-67 ms).
"""

from __future__ import annotations

import numpy as np

from tpsmm.evaluation.keypoints import FACE_THRESHOLD
from tpsmm.evaluation.metrics import FramePoints
from tpsmm.faces import NUM_LANDMARKS, FaceAnalyzer
from tpsmm.faces.crop import FACE_TO_CROP
from tpsmm.faces.tracking import BOX_TO_SCALE, DETECTION_FACE, FaceFinder

__all__ = ["CropFaceKeypoints"]


class CropFaceKeypoints:
    """68 dlib landmarks and the 128-d embedding of the largest face of a training-style
    square crop (a :class:`tpsmm.evaluation.keypoints.KeypointExtractor`).

    Args:
        frame_size: the side of the frames it will be given (pixels).

    Raises:
        TPSMMError: the ``eval`` extra is missing.
    """

    kind = "face"
    num_keypoints = NUM_LANDMARKS
    has_identity = True

    def __init__(self, frame_size: int) -> None:
        self.analyzer = FaceAnalyzer(
            upsample=0, threshold=FACE_THRESHOLD, needed_by="tpsmm benchmark-faces"
        )
        self.analyzer.load(embedding=True)
        self.finder = FaceFinder(self.analyzer)
        self.frame_size = frame_size
        self.scale = DETECTION_FACE * FACE_TO_CROP / (BOX_TO_SCALE * frame_size)
        self.description = (
            f"dlib HOG face detector (threshold {FACE_THRESHOLD:+g}) on the frame scaled by "
            f"{self.scale:.3f}, 68-point shape predictor and "
            "dlib_face_recognition_resnet_model_v1 embeddings on the full frame"
        )

    def __call__(self, frame: np.ndarray, *, embedding: bool = False) -> FramePoints:
        if frame.shape[:2] != (self.frame_size, self.frame_size):
            raise ValueError(
                f"expected {self.frame_size}x{self.frame_size} frames, got {frame.shape}"
            )
        boxes = self.finder.detect(frame, self.scale)
        if not boxes:
            return FramePoints.nothing(NUM_LANDMARKS)
        box = max(boxes, key=lambda found: (found.area, found.score))
        points = self.analyzer.landmarks(frame, box)
        vector = self.analyzer.embedding(frame, box, points) if embedding else None
        return FramePoints(points, np.ones(NUM_LANDMARKS, dtype=bool), vector)
