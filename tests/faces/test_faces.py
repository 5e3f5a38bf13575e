"""tpsmm.faces: boxes, model files, the missing extra, and dlib on the bundled sample."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from tpsmm.errors import TPSMMError
from tpsmm.faces import (
    EMBEDDING_SIZE,
    EXTRA_MISSING,
    NUM_LANDMARKS,
    DlibLandmarks,
    FaceAnalyzer,
    FaceBox,
    as_dlib_image,
    extra_missing,
    model_path,
)
from tpsmm.faces import models as models_module
from tpsmm.media import fit_frame, fit_frames, load_image, read_video

ASSETS = Path(__file__).resolve().parents[2] / "src" / "tpsmm" / "assets"
HAS_DLIB = importlib.util.find_spec("dlib") is not None
needs_dlib = pytest.mark.skipif(not HAS_DLIB, reason="needs the eval extra (dlib-bin)")


@pytest.fixture(scope="module")
def sample():
    """The sample source face and the first driving frames, fitted to 256 x 256."""
    source = fit_frame(load_image(ASSETS / "source.png"), 256)
    driving = fit_frames(read_video(ASSETS / "driving.mp4", max_frames=3), 256)
    return source, driving


@pytest.fixture(scope="module")
def analyzer():
    if not HAS_DLIB:
        pytest.skip("needs the eval extra (dlib-bin)")
    return FaceAnalyzer()


def test_box_geometry_and_dlib_round_trip():
    box = FaceBox(10.0, 20.0, 110.0, 140.0, score=0.5)
    assert (box.width, box.height, box.area, box.center) == (100.0, 120.0, 12000.0, (60.0, 80.0))
    assert box.scaled(0.5) == FaceBox(5.0, 10.0, 55.0, 70.0, score=0.5)
    assert box.scaled(2.0, 1.0) == FaceBox(20.0, 20.0, 220.0, 140.0, score=0.5)
    assert math.isnan(FaceBox(0, 0, 1, 1).score)
    with pytest.raises(ValueError, match="empty"):
        FaceBox(5, 5, 5, 10)


@needs_dlib
def test_box_to_dlib_has_inclusive_corners():
    import dlib

    rect = FaceBox(10.0, 20.0, 110.0, 140.0).to_dlib(dlib)
    assert (rect.left(), rect.top(), rect.right(), rect.bottom()) == (10, 20, 109, 139)
    assert FaceBox.from_dlib(rect, 1.5) == FaceBox(10.0, 20.0, 110.0, 140.0, 1.5)


def test_images_are_checked_and_made_contiguous():
    image = np.zeros((8, 10, 3), np.uint8)
    view = image[:, ::2]
    assert not view.flags.c_contiguous and as_dlib_image(view).flags.c_contiguous
    with pytest.raises(ValueError, match="uint8"):
        as_dlib_image(image.astype(np.float32))
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        as_dlib_image(image[..., 0])


def test_missing_extra_messages(monkeypatch):
    assert extra_missing() == EXTRA_MISSING
    assert extra_missing("--find-best-frame") == (
        "--find-best-frame needs the eval extra: pip install 'tpsmm[eval]'"
    )
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib raises ImportError
    with pytest.raises(TPSMMError) as info:
        FaceAnalyzer(needed_by="tpsmm evaluate --kind face")
    assert str(info.value) == extra_missing("tpsmm evaluate --kind face")


def test_missing_model_package(monkeypatch):
    monkeypatch.setattr(models_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TPSMMError) as info:
        model_path(models_module.SHAPE_PREDICTOR)
    assert str(info.value) == EXTRA_MISSING


def test_model_file_found_without_importing_the_package(tmp_path, monkeypatch):
    models = tmp_path / "face_recognition_models" / "models"
    models.mkdir(parents=True)
    name = models_module.EMBEDDING_MODEL
    (models / name).write_bytes(b"model")
    spec = importlib.util.spec_from_loader("face_recognition_models", loader=None, is_package=True)
    spec.submodule_search_locations = [str(models.parent)]
    monkeypatch.setattr(models_module.importlib.util, "find_spec", lambda name: spec)
    assert model_path(name) == models / name
    (models / name).unlink()
    with pytest.raises(TPSMMError, match=r"dlib_face_recognition_resnet_model_v1\.dat is missing"):
        model_path(name, needed_by="AED")


@needs_dlib
def test_sample_faces_landmarks_and_embeddings(analyzer, sample):
    source, driving = sample
    boxes = analyzer.detect(source)
    assert len(boxes) == 1 and boxes[0].width > 100  # the face fills much of the frame
    face = analyzer.analyze(source, embedding=True)
    assert face is not None and face.box == boxes[0]
    assert face.landmarks.shape == (NUM_LANDMARKS, 2) and face.landmarks.dtype == np.float64
    left, top = face.landmarks.min(axis=0)
    right, bottom = face.landmarks.max(axis=0)
    box = face.box  # the 68 points lie in and around the detector's box
    assert box.left - 20 < left < right < box.right + 20
    assert box.top - 30 < top < bottom < box.bottom + 20
    assert face.embedding.shape == (EMBEDDING_SIZE,)
    frames = [analyzer.analyze(frame, embedding=True) for frame in driving]
    same_person = np.linalg.norm(frames[0].embedding - frames[2].embedding)
    other_person = np.linalg.norm(face.embedding - frames[0].embedding)
    # dlib's rule of thumb: one person within 0.6, different people beyond it
    assert same_person < 0.4 < 0.6 < other_person
    assert analyzer.analyze(np.zeros((256, 256, 3), np.uint8)) is None


@needs_dlib
def test_one_detection_serves_landmarks_and_embedding(analyzer, sample, monkeypatch):
    source, _ = sample
    calls = []
    detect = analyzer.detect
    monkeypatch.setattr(analyzer, "detect", lambda image: calls.append(1) or detect(image))
    face = analyzer.analyze(source, embedding=True)
    assert len(calls) == 1
    # a caller's own box skips the detector and gives the same answer for the same box
    again = analyzer.analyze(source, box=face.box, embedding=True)
    assert len(calls) == 1
    np.testing.assert_array_equal(again.landmarks, face.landmarks)
    np.testing.assert_array_equal(again.embedding, face.embedding)
    np.testing.assert_array_equal(
        analyzer.embedding(source, face.box, face.landmarks), face.embedding
    )


@needs_dlib
def test_dlib_landmarks_function(sample):
    source, _ = sample
    landmarks = DlibLandmarks()
    points = landmarks(source)
    assert points is not None and points.shape == (NUM_LANDMARKS, 2)
    # a strided view reads as the same image (dlib alone would misread it)
    strided = np.zeros((256, 512, 3), np.uint8)
    strided[:, ::2] = source
    np.testing.assert_array_equal(landmarks(strided[:, ::2]), points)
    assert landmarks(np.full((128, 128, 3), 127, np.uint8)) is None
