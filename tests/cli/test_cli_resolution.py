"""``--resolution`` / ``VideoAnimator(resolution=N)``: every fit, side by side, paste-back,
motion files, N below the model's size and above the source's, and the frames without
it unchanged, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE, TINY_SIZE, read_png_folder

import tpsmm
from tpsmm.animation.pipeline import VideoAnimator
from tpsmm.animation.source import fit_rect
from tpsmm.media import fit_frame, fit_frames, load_image, read_video
from tpsmm.media._common import to_uint8

FRAMES = 3


def _stream(animator: VideoAnimator, **options) -> np.ndarray:
    return np.concatenate(list(animator.stream(SAMPLE_DRIVING, max_frames=FRAMES, **options)))


def test_without_resolution_the_frames_are_the_models(tiny_model):
    """The frames of the job before it could render above the model's size: the source
    and the driving frames fitted to S, animated, to uint8."""
    source = fit_frame(load_image(SAMPLE_SOURCE), TINY_SIZE)
    driving = fit_frames(read_video(SAMPLE_DRIVING, max_frames=FRAMES), TINY_SIZE)
    expected = to_uint8(tpsmm.animate(tiny_model, source, driving, batch_size=2))
    for resolution in (None, "model", TINY_SIZE):
        animator = VideoAnimator(tiny_model, SAMPLE_SOURCE, batch_size=2, resolution=resolution)
        np.testing.assert_array_equal(_stream(animator), expected)
        assert animator.resolution == TINY_SIZE


@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
def test_each_fit_renders_at_the_resolution(tiny_model, fit):
    image = load_image(SAMPLE_SOURCE)[:, :501]  # 676 x 501: not square, odd
    animator = VideoAnimator(tiny_model, image, fit=fit, batch_size=2, resolution=161)
    frames = _stream(animator)
    assert frames.shape == (FRAMES, 161, 161, 3) and frames.dtype == np.uint8
    # The renderer's source: the square of the fit, cut from the image at its own
    # resolution up to N.
    assert animator.animator.target.source.shape == (1, 3, 161, 161)
    side = _stream(animator, side_by_side=True)
    assert side.shape == (FRAMES, 161, 3 * 161, 3)
    np.testing.assert_array_equal(side[:, :, 2 * 161 :], frames)
    np.testing.assert_array_equal(side[0, :, :161], fit_frame(image, 161, fit))
    left, top, right, bottom = fit_rect(image.shape[1], image.shape[0], fit)
    assert animator.source_rect == (left, top, right, bottom)


def test_resolution_above_the_sources_keeps_the_source_as_it_is(tiny_model):
    image = fit_frame(load_image(SAMPLE_SOURCE), 90)  # 90 x 90, the model at 64
    animator = VideoAnimator(tiny_model, image, batch_size=2, resolution=200)
    assert animator.animator.target.source.shape == (1, 3, 90, 90)
    assert _stream(animator).shape == (FRAMES, 200, 200, 3)
    small = fit_frame(image, 40)  # below the model's size: cut at S for both
    animator = VideoAnimator(tiny_model, small, batch_size=2, resolution=128)
    assert animator.animator.target.source.shape == (1, 3, TINY_SIZE, TINY_SIZE)


def test_resolution_below_the_model_downsamples_its_frames(tiny_model):
    at_model = _stream(VideoAnimator(tiny_model, SAMPLE_SOURCE, batch_size=2))
    animator = VideoAnimator(tiny_model, SAMPLE_SOURCE, batch_size=2, resolution=37)
    frames = _stream(animator)
    np.testing.assert_array_equal(frames, fit_frames(at_model, 37, "stretch"))
    side = _stream(animator, side_by_side=True)
    assert side.shape == (FRAMES, 37, 111, 3)


def test_paste_back_pastes_the_rendered_frames_without_the_models_size(tiny_model):
    image = load_image(SAMPLE_SOURCE)
    plain = VideoAnimator(tiny_model, image, batch_size=2, paste_back=True)
    model_size = _stream(plain)
    assert plain.resolution == TINY_SIZE  # without --crop-face the default is the model's
    animator = VideoAnimator(tiny_model, image, batch_size=2, paste_back=True, resolution="auto")
    assert animator.resolution == min(image.shape[:2])  # the centre square's side
    assert animator.paster.size == animator.resolution
    frames = _stream(animator)
    assert frames.shape == model_size.shape == (FRAMES, *image.shape)
    # Outside the pasted square, the source as it is; inside, other (sharper) frames.
    left, top, right, bottom = (round(v) for v in plain.source_rect)
    outside = np.ones(image.shape[:2], bool)
    outside[top:bottom, left:right] = False
    np.testing.assert_array_equal(
        frames[:, outside], np.broadcast_to(image[outside], (FRAMES, outside.sum(), 3))
    )
    assert (frames != model_size).any()
    side = _stream(animator, side_by_side=True)
    assert side.shape[1] == image.shape[0]  # source | driving | result at the image's height
    np.testing.assert_array_equal(side[:, :, -image.shape[1] :], frames)


def test_motion_files_render_at_the_resolution(tiny_model):
    from tpsmm.animation.extract import extract_motion

    motion = extract_motion(tiny_model, SAMPLE_DRIVING, max_frames=FRAMES, audio=False)
    from_video = _stream(VideoAnimator(tiny_model, SAMPLE_SOURCE, batch_size=1, resolution=96))
    animator = VideoAnimator(tiny_model, SAMPLE_SOURCE, batch_size=1, resolution=96)
    from_motion = np.concatenate(list(animator.stream(motion)))
    np.testing.assert_array_equal(from_motion, from_video)
    side = np.concatenate(list(animator.stream(motion, side_by_side=True)))
    assert side.shape == (FRAMES, 96, 288, 3)


def test_cli_animate_and_demo_take_resolution(run_cli, tiny_checkpoint, tmp_path):
    out = tmp_path / "frames"
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", SAMPLE_DRIVING, "--checkpoint",
        tiny_checkpoint, "--output", out, "--max-frames", 2, "--resolution", 99, "-q",
    )  # fmt: skip
    assert result.status == 0, result.err
    assert read_png_folder(out).shape == (2, 99, 99, 3)
    demo = tmp_path / "demo"
    result = run_cli(
        "demo", "--checkpoint", tiny_checkpoint, "--output", demo, "--max-frames", 1,
        "--resolution", 80, "-q",
    )  # fmt: skip
    assert result.status == 0, result.err
    assert read_png_folder(demo).shape == (1, 80, 240, 3)
    for bad in ("0", "huge", "1.5"):
        result = run_cli(
            "animate", "--source", SAMPLE_SOURCE, "--driving", SAMPLE_DRIVING, "--checkpoint",
            tiny_checkpoint, "--output", tmp_path / f"bad-{bad}.mp4", "--resolution", bad,
        )  # fmt: skip
        assert result.status == 2
        assert len(result.error_lines) == 1 and "resolution must be a whole number" in result.err
        assert not (tmp_path / f"bad-{bad}.mp4").exists()
