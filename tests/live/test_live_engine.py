"""tpsmm.live: one frame at a time against a reference frame, the driver's face followed
cheaply, the figures the page shows, the smoothing of the crop."""

from __future__ import annotations

import importlib.util
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from live.live_footage import SAMPLE_IMAGE, camera_frames
from tiny_model import tiny_model
from tpsmm.animation import Animator
from tpsmm.errors import TPSMMError
from tpsmm.faces.crop import CropBox, box_iou
from tpsmm.live import FrameStats, LiveAnimator
from tpsmm.live.follow import DETECT_EVERY, FaceFollower, OneEuroFilter
from tpsmm.media import fit_frame, load_image, to_uint8

needs_dlib = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None, reason="needs the eval extra (dlib-bin)"
)


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def pictures() -> list[np.ndarray]:
    """Eight 320x240 camera pictures of the bundled video (a face at arm's length)."""
    return camera_frames(8, start=40)


def offline(model, source: np.ndarray, frames: list[np.ndarray]) -> list[np.ndarray]:
    """The frames of tpsmm.Animator for a video starting with ``frames[0]``."""
    animator = Animator(model, source)
    return [to_uint8(animator.animate(frame[None])[0]) for frame in frames]


def test_frames_are_animated_against_the_first_and_reset_takes_a_new_reference(model, pictures):
    live = LiveAnimator(model, load_image(SAMPLE_IMAGE))
    assert live.input_side == live.size == 64
    crops = [fit_frame(picture, 64, "crop") for picture in pictures]
    results = [live.animate(picture) for picture in pictures[:4]]
    assert [result.reference for result in results] == [True, False, False, False]
    assert all(result.face is None for result in results)
    assert results[0].box == (40.0, 0.0, 280.0, 240.0)  # the centre square
    expected = offline(model, live.source, crops[:4])
    for result, frame in zip(results, expected, strict=True):
        np.testing.assert_array_equal(result.image, frame)
    assert set(results[1].times) == {"face", "crop", "model"}

    live.reset()
    after = [live.animate(picture) for picture in pictures[4:]]
    assert [result.reference for result in after] == [True, False, False, False]
    for result, frame in zip(after, offline(model, live.source, crops[4:]), strict=True):
        np.testing.assert_array_equal(result.image, frame)


def test_frames_prepared_in_turn_and_rendered_on_two_threads_are_the_same(model, pictures):
    """The web server's frame workers: frames prepared in order (the reference taken in
    turn) and rendered at the same time give the frames of animate()."""
    live = LiveAnimator(model, load_image(SAMPLE_IMAGE))
    crops = [fit_frame(picture, 64, "crop") for picture in pictures]
    with ThreadPoolExecutor(2) as pool:
        for part in (slice(0, 5), slice(5, 8)):  # Reset between the parts
            live.reset()
            prepared = [live.prepare(picture) for picture in pictures[part]]
            assert [frame.reference for frame in prepared] == [True] + [False] * (len(prepared) - 1)
            results = list(pool.map(live.render, prepared))
            expected = offline(model, live.source, crops[part])
            for result, frame in zip(results, expected, strict=True):
                np.testing.assert_array_equal(result.image, frame)
            assert set(results[0].times) == {"face", "crop", "reference", "model"}
            assert set(results[1].times) == {"face", "crop", "model"}


def test_motion_scale_zero_holds_the_reference_pose(model, pictures):
    live = LiveAnimator(model, load_image(SAMPLE_IMAGE), motion_scale=0)
    first = live.animate(pictures[0]).image
    for picture in pictures[1:4]:
        np.testing.assert_array_equal(live.animate(picture).image, first)
    live.motion_scale = 1
    assert not np.array_equal(live.animate(pictures[4]).image, first)
    with pytest.raises(TPSMMError, match="motion scale must be a number >= 0"):
        live.motion_scale = -1


@needs_dlib
def test_face_followed_with_the_crop_of_crop_face(model):
    """The driver's face in 320x240 pictures: crops like --crop-face's of the same
    frames (the offline tracker, smoothed over the whole video), the detector run only
    every DETECT_EVERY frames."""
    from tpsmm.faces.tracking import FaceFinder, track_faces

    pictures = camera_frames(24)
    finder = FaceFinder()
    calls = {"detect": 0}
    detect = finder.detect

    def counted(*args, **kwargs):
        calls["detect"] += 1
        return detect(*args, **kwargs)

    finder.detect = counted
    times = iter(np.arange(len(pictures)) / 25)
    live = LiveAnimator(
        model, load_image(SAMPLE_IMAGE), follow_face=True, finder=finder, clock=lambda: next(times)
    )
    assert live.source_face and live.input_side == 320
    calls["detect"] = 0
    results = [live.animate(picture) for picture in pictures]
    assert all(result.face for result in results)
    assert results[0].reference and not any(result.reference for result in results[1:])
    searches = len(pictures) // (DETECT_EVERY + 1) + 1
    assert 0 < calls["detect"] <= searches * 4  # a few scales per full search
    offline_boxes = track_faces(pictures, finder=finder).crop_boxes(3)
    for result, box in zip(results[5:], offline_boxes[5:], strict=True):
        left, top, right, bottom = result.box
        followed = CropBox((left + right) / 2, (top + bottom) / 2, right - left)
        assert box_iou(followed, CropBox.from_array(box)) > 0.85


@needs_dlib
def test_lost_face_keeps_the_last_crop(pictures):
    """Between detections the landmarks follow whatever is in the box; the next
    detection finds no face, and the crop then stays where it was."""
    follower = FaceFollower()
    assert follower.update(pictures[0], 0.0) is not None and follower.found
    blank = np.full_like(pictures[0], 90)
    for index in range(DETECT_EVERY + 1):
        box = follower.update(blank, (index + 1) / 25)
        if not follower.found:
            break
    assert not follower.found
    assert follower.update(blank, 1.0) == box
    assert FaceFollower().update(blank, 0.0) is None


def test_one_euro_filter_is_steady_at_rest_and_follows_motion():
    still = OneEuroFilter(1.0, 0.7)
    noisy = 5 + np.random.default_rng(0).normal(0, 0.05, 100)
    smoothed = [still(np.array([value]), index / 25)[0] for index, value in enumerate(noisy)]
    assert np.std(smoothed[20:]) < np.std(noisy[20:]) / 2
    moving = OneEuroFilter(1.0, 0.7)
    lags = []
    for index in range(50):  # 10 units per second
        value = index * 0.4
        lags.append(value - moving(np.array([value]), index / 25)[0])
    assert 0 <= lags[-1] < 0.4  # less than one frame's motion behind
    moving.reset()
    assert moving(np.array([3.0]), 10.0)[0] == 3.0


def test_frame_stats_cover_the_last_second():
    now = [0.0]
    stats = FrameStats(clock=lambda: now[0])
    assert stats.rate() == 0 and stats.median_latency() is None
    for index in range(30):
        now[0] = index / 16  # exact in binary
        stats.add(0.05 + (index % 3) * 0.01)
    assert stats.rate() == 16  # the frames of the last second
    assert stats.median_latency() == pytest.approx(0.06)
    rate, latency = stats.overall()
    assert rate == pytest.approx(16) and latency == pytest.approx(0.06)
    now[0] = 10.0
    assert stats.rate() == 0
