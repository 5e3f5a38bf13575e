"""--find-best-frame: the streaming job equals the authors' forward/backward join."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from cli_helpers import (
    SAMPLE_DRIVING,
    SAMPLE_SOURCE,
    TINY_SIZE,
    leftovers,
    pattern_frame,
    read_png_folder,
    sample_job,
    write_png_folder,
)

import tpsmm
from tpsmm.animation.best_frame import EXTRA_MISSING, default_landmarks, find_best_frame
from tpsmm.animation.pipeline import VideoAnimator
from tpsmm.errors import TPSMMError
from tpsmm.media import fit_frame, fit_frames, load_image, read_video
from tpsmm.media._common import to_uint8

SOURCE_TAG = 200  # pattern frames carry their index in pixel (0, 0, red); the source this
NUM_FRAMES = 6
_rng = np.random.default_rng(0)
BASE = _rng.uniform(5, 60, (68, 2))
PERTURBATION = _rng.normal(size=(68, 2))
HAS_DLIB = importlib.util.find_spec("dlib") is not None


def fake_landmarks(best: int, no_face: tuple[int, ...] = ()):
    """Landmarks that make frame ``best`` the closest to the source: every frame's are the
    source's moved, scaled (both normalised away) and deformed by |index - best|."""

    def landmarks(image: np.ndarray) -> np.ndarray | None:
        tag = int(image[0, 0, 0])
        if tag == SOURCE_TAG:
            return BASE
        if tag in no_face:
            return None
        return BASE * 1.7 + 5 + abs(tag - best) * PERTURBATION

    return landmarks


@pytest.fixture
def tagged(tmp_path):
    """(source (64, 64, 3) uint8, driving PNG folder, its frames (T, 64, 64, 3))."""
    source = pattern_frame(7)
    source[0, 0, 0] = SOURCE_TAG
    frames = np.stack([pattern_frame(i) for i in range(NUM_FRAMES)])
    folder = write_png_folder(tmp_path / "driving", frames)
    return source, folder, frames


def authors_join(model, source, frames, best: int) -> np.ndarray:
    """The authors' demo: forward from the best frame, backward from it to the first
    frame, each its own animation (the first frame of each is its reference), joined as
    backward[::-1] + forward[1:]; one frame at a time."""
    forward = tpsmm.animate(model, source, frames[best:].copy())
    backward = tpsmm.animate(model, source, frames[: best + 1][::-1].copy())
    return to_uint8(np.concatenate([backward[::-1], forward[1:]]))


@pytest.mark.parametrize("best", [0, 3, NUM_FRAMES - 1])
def test_streaming_equals_authors_join(tiny_model, tagged, tmp_path, best):
    source, folder, frames = tagged
    animator = VideoAnimator(tiny_model, source, batch_size=1)
    summary = animator.write(
        folder, tmp_path / "out", find_best_frame=True, landmarks=fake_landmarks(best)
    )
    assert summary.best_frame == best
    assert summary.frames == NUM_FRAMES
    np.testing.assert_array_equal(
        read_png_folder(tmp_path / "out"), authors_join(tiny_model, source, frames, best)
    )


def test_batches_match_the_join_closely(tiny_model, tagged, tmp_path):
    source, folder, frames = tagged
    animator = VideoAnimator(tiny_model, source, batch_size=4)
    animator.write(folder, tmp_path / "out", find_best_frame=True, landmarks=fake_landmarks(2))
    difference = read_png_folder(tmp_path / "out").astype(int) - authors_join(
        tiny_model, source, frames, 2
    )
    assert np.abs(difference).max() <= 1


def test_search_is_limited_to_max_frames(tiny_model, tagged, tmp_path):
    source, folder, _ = tagged
    animator = VideoAnimator(tiny_model, source)
    summary = animator.write(
        folder, tmp_path / "o.gif", find_best_frame=True, landmarks=fake_landmarks(5), max_frames=4
    )
    assert summary.best_frame == 3
    assert summary.frames == 4


def test_frames_without_a_face_are_skipped(tiny_model, tagged, tmp_path):
    source, folder, _ = tagged
    animator = VideoAnimator(tiny_model, source)
    landmarks = fake_landmarks(3, no_face=(3, 4))
    summary = animator.write(folder, tmp_path / "o", find_best_frame=True, landmarks=landmarks)
    assert summary.best_frame in (2, 5)


def test_no_face_in_any_driving_frame_uses_the_first(tiny_model, tagged, tmp_path):
    source, folder, frames = tagged
    animator = VideoAnimator(tiny_model, source, batch_size=1)
    landmarks = fake_landmarks(3, no_face=tuple(range(NUM_FRAMES)))
    summary = animator.write(folder, tmp_path / "o", find_best_frame=True, landmarks=landmarks)
    assert summary.best_frame == 0
    expected = to_uint8(tpsmm.animate(tiny_model, source, frames, batch_size=1))
    np.testing.assert_array_equal(read_png_folder(tmp_path / "o"), expected)


def test_no_face_in_the_source_fails_before_output(tiny_model, tagged, tmp_path):
    _, folder, _ = tagged
    animator = VideoAnimator(tiny_model, pattern_frame(9))  # tag 9: no special landmarks
    landmarks = fake_landmarks(3, no_face=(9,))
    (tmp_path / "out").mkdir()
    with pytest.raises(TPSMMError, match="no face found in the source image"):
        animator.write(
            folder, tmp_path / "out" / "o.mp4", find_best_frame=True, landmarks=landmarks
        )
    assert leftovers(tmp_path / "out") == []


def test_cli_says_when_the_extra_is_missing(run_cli, tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)  # import dlib raises ImportError
    out = tmp_path / "o.mp4"
    result = run_cli(
        *sample_job(tiny_checkpoint, out),
        "--find-best-frame",
    )
    assert result.status == 2
    assert result.error_lines == [f"tpsmm animate: error: {EXTRA_MISSING}"]
    assert not out.exists()


@pytest.mark.skipif(not HAS_DLIB, reason="needs the eval extra (dlib-bin)")
def test_dlib_landmarks_on_the_sample():
    landmarks = default_landmarks()
    source = fit_frame(load_image(SAMPLE_SOURCE), 256)
    points = landmarks(source)
    assert points is not None and points.shape == (68, 2)
    assert points.min() >= 0 and points.max() < 256
    assert landmarks(np.zeros((256, 256, 3), np.uint8)) is None
    driving = fit_frames(read_video(SAMPLE_DRIVING, max_frames=4), 256)
    best = find_best_frame(source, iter(driving), landmarks)
    assert best.faces == 4
    assert 0 <= best.index < 4 and np.isfinite(best.distance)
    np.testing.assert_array_equal(best.frame, driving[best.index])


@pytest.mark.skipif(not HAS_DLIB, reason="needs the eval extra (dlib-bin)")
def test_cli_find_best_frame_on_the_sample(run_cli, tiny_checkpoint, tmp_path):
    out = tmp_path / "frames"
    result = run_cli(
        *sample_job(tiny_checkpoint, out),
        "--find-best-frame",
        "--max-frames",
        3,
    )
    assert result.status == 0, result.err
    assert "best frame" in result.out
    assert read_png_folder(out).shape == (3, TINY_SIZE, TINY_SIZE, 3)
