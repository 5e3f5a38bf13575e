"""The streaming job through the Python API: VideoAnimator, animate_video, model loading."""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch
from cli_helpers import (
    SAMPLE_DRIVING,
    SAMPLE_SOURCE,
    TINY_SIZE,
    pattern_frame,
    read_png_folder,
    write_video,
)
from PIL import Image

import tpsmm
from tpsmm.animation.animator import load_animation_model
from tpsmm.animation.compose import side_by_side_frames
from tpsmm.animation.output import AnimationSummary, check_inputs
from tpsmm.animation.pipeline import VideoAnimator, animate_video
from tpsmm.errors import MediaError, TPSMMError
from tpsmm.media import VideoReader, fit_frame, fit_frames, load_image, read_video
from tpsmm.media._common import to_uint8
from tpsmm.runtime import DTYPE_NAMES, SlowPrecisionWarning, resolve_precision


def test_stream_yields_the_frames_of_tpsmm_animate(tiny_model):
    animator = VideoAnimator(tiny_model, SAMPLE_SOURCE, batch_size=2)
    batches = list(animator.stream(SAMPLE_DRIVING, max_frames=5))
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert all(batch.dtype == np.uint8 for batch in batches)
    source = fit_frame(load_image(SAMPLE_SOURCE), TINY_SIZE)
    driving = fit_frames(read_video(SAMPLE_DRIVING, max_frames=5), TINY_SIZE)
    expected = to_uint8(tpsmm.animate(tiny_model, source, driving, batch_size=2))
    np.testing.assert_array_equal(np.concatenate(batches), expected)


def test_each_stream_starts_a_new_reference(tiny_model):
    animator = VideoAnimator(tiny_model, SAMPLE_SOURCE, batch_size=2)
    first = np.concatenate(list(animator.stream(SAMPLE_DRIVING, max_frames=2)))
    with VideoReader(SAMPLE_DRIVING) as reader:
        second = np.concatenate(list(animator.stream(reader, max_frames=2)))
        again = np.concatenate(list(animator.stream(reader, max_frames=2)))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, again)


def test_side_by_side_frames_layout():
    source = np.full((4, 4, 3), 1, np.uint8)
    driving = np.full((2, 4, 4, 3), 2, np.uint8)
    result = np.full((2, 4, 4, 3), 3, np.uint8)
    combined = side_by_side_frames(source, driving, result)
    assert combined.shape == (2, 4, 12, 3)
    assert (combined[:, :, :4] == 1).all()
    assert (combined[:, :, 4:8] == 2).all()
    assert (combined[:, :, 8:] == 3).all()


def test_exact_frame_rate_and_array_source(tiny_model, tmp_path):
    rate = Fraction(30000, 1001)
    driving = write_video(
        tmp_path / "ntsc.mp4", (pattern_frame(i, (80, 48)) for i in range(4)), fps=rate
    )
    source = pattern_frame(0, (50, 70))
    summary = animate_video(tiny_model, source, driving, tmp_path / "out.mkv", fit="pad")
    assert isinstance(summary, AnimationSummary)
    assert (summary.frames, summary.size, summary.frame_rate) == (4, (64, 64), rate)
    assert not summary.audio
    assert summary.best_frame is None
    with VideoReader(tmp_path / "out.mkv") as written:
        assert written.frame_rate == rate
        assert len(list(written)) == 4
    assert "4 frames, 64x64 at 29.97 fps, 0.13 s long, no audio" in summary.describe()


def test_output_written_atomically_replaces_an_old_one(tiny_model, tmp_path):
    out = tmp_path / "frames"
    animate_video(tiny_model, SAMPLE_SOURCE, SAMPLE_DRIVING, out, max_frames=3)
    animate_video(tiny_model, SAMPLE_SOURCE, SAMPLE_DRIVING, out, max_frames=2)
    assert read_png_folder(out).shape[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_check_inputs_creates_nothing(tmp_path):
    check_inputs(SAMPLE_SOURCE, SAMPLE_DRIVING, tmp_path / "out.mp4")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(MediaError, match="would overwrite the driving video"):
        check_inputs(SAMPLE_SOURCE, SAMPLE_DRIVING, SAMPLE_DRIVING)
    still_gif = tmp_path / "face.gif"
    Image.fromarray(pattern_frame(0)).save(still_gif)
    with pytest.raises(MediaError, match="would overwrite the source image"):
        check_inputs(still_gif, SAMPLE_DRIVING, still_gif)


def test_bad_arguments_are_one_line_errors(tiny_model, tmp_path):
    with pytest.raises(TPSMMError, match="batch size must be a positive whole number"):
        VideoAnimator(tiny_model, SAMPLE_SOURCE, batch_size=0)
    with pytest.raises(TPSMMError, match=r"got 2\.0"):
        VideoAnimator(tiny_model, SAMPLE_SOURCE, batch_size=2.0)
    animator = VideoAnimator(tiny_model, SAMPLE_SOURCE)
    with pytest.raises(TPSMMError, match="max frames"):
        animator.write(SAMPLE_DRIVING, tmp_path / "o.mp4", max_frames=0)
    with pytest.raises(TPSMMError, match=r"\(H, W, 3\) uint8"):
        VideoAnimator(tiny_model, np.zeros((8, 8), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_load_animation_model_reduces_only_the_measured_networks(tiny_checkpoint):
    """Reduced precision is TPSMM.set_compute_dtype's: keypoints, background and AVD stay
    float32, only the dense motion and inpainting networks change."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowPrecisionWarning)
        model = load_animation_model(tiny_checkpoint, device="cpu", dtype="bfloat16")
    assert model.compute_dtype is torch.bfloat16
    for name in ("kp_detector", "avd_network"):
        assert {p.dtype for p in getattr(model, name).parameters()} == {torch.float32}, name
    assert {p.dtype for p in model.inpainting_network.parameters()} == {torch.bfloat16}
    assert not model.training
    assert model.avd_available
    with pytest.raises(TPSMMError, match="unknown device 'gpu'"):
        load_animation_model(tiny_checkpoint, device="gpu")
    with pytest.raises(TPSMMError, match="unknown dtype 'half'"):
        load_animation_model(tiny_checkpoint, dtype="half")


def test_auto_precision_and_the_summary_line(tiny_checkpoint, tmp_path):
    model = load_animation_model(tiny_checkpoint, device="cpu")  # dtype auto
    expected = resolve_precision("auto", torch.device("cpu")).dtype
    assert model.compute_dtype is expected
    summary = animate_video(model, SAMPLE_SOURCE, SAMPLE_DRIVING, tmp_path / "o", max_frames=1)
    assert summary.describe().endswith(f"{DTYPE_NAMES[expected]} on cpu")


def test_bfloat16_animation(tiny_checkpoint, tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowPrecisionWarning)
        model = load_animation_model(tiny_checkpoint, device="cpu", dtype="bfloat16")
    summary = animate_video(model, SAMPLE_SOURCE, SAMPLE_DRIVING, tmp_path / "o", max_frames=2)
    reference = tpsmm.load_model(tiny_checkpoint)
    animate_video(reference, SAMPLE_SOURCE, SAMPLE_DRIVING, tmp_path / "f32", max_frames=2)
    assert summary.frames == 2
    low, high = read_png_folder(tmp_path / "o"), read_png_folder(tmp_path / "f32")
    assert np.abs(low.astype(int) - high.astype(int)).mean() < 4
