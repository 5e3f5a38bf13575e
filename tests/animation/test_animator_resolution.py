"""``Animator(..., resolution=N)``: frames above the model's size in every mode, with and
without the background predictor, for odd, non-square, small and large sources; the
frames without a resolution unchanged, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tpsmm
from tiny_model import TINY_FRAME_SIZE, tiny_model
from tpsmm.animation import frames_to_tensor, tensor_to_frames
from tpsmm.animation.resolution import AUTO_LIMIT, check_resolution, resolve_resolution
from tpsmm.errors import TPSMMError
from tpsmm.media import fit_frame

S = TINY_FRAME_SIZE
MODES = ("standard", "relative", "avd")


@pytest.fixture(scope="module")
def model() -> tpsmm.TPSMM:
    return tiny_model(bg=True)


def _images(count: int, seed: int, height: int, width: int | None = None) -> np.ndarray:
    width = height if width is None else width
    shape = (count, height, width, 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


@pytest.mark.parametrize("background", [False, True], ids=["bg-off", "bg-on"])
@pytest.mark.parametrize("mode", MODES)
def test_frames_without_resolution_are_the_models_bit_for_bit(model, mode, background):
    source, driving = _images(1, 0, S)[0], _images(3, 1, S)
    animator = tpsmm.Animator(model, source, mode, background=background)
    got = animator.animate(driving)
    # What the Animator computed before it could render above the model's size.
    with torch.inference_mode():
        frames = frames_to_tensor(driving)
        kp = animator.driving_keypoints(model.keypoints(frames))
        bg = model.background(animator.state.image.expand(3, -1, -1, -1), frames)
        expected = model.generate_from_source(animator.state, kp, bg if background else None)
    np.testing.assert_array_equal(got, tensor_to_frames(expected))
    for same in ("model", S):
        other = tpsmm.Animator(model, source, mode, background=background, resolution=same)
        np.testing.assert_array_equal(other.animate(driving), got)
        assert other.frame_size == S and other.target is None


@pytest.mark.parametrize("background", [False, True], ids=["bg-off", "bg-on"])
@pytest.mark.parametrize("mode", MODES)
def test_every_mode_renders_at_the_resolution(model, mode, background):
    source, driving = _images(1, 2, 150)[0], _images(2, 3, S)
    animator = tpsmm.Animator(model, source, mode, background=background, resolution=101)
    frames = animator.animate(driving)
    assert frames.shape == (2, 101, 101, 3) and frames.dtype == np.float32
    assert animator.frame_size == 101
    assert frames.min() >= 0 and frames.max() <= 1
    # The model saw the source resized to its size, as a plain animator of that sees it.
    plain = tpsmm.Animator(model, fit_frame(source, S, "stretch"), mode, background=background)
    torch.testing.assert_close(animator.state.image, plain.state.image, rtol=0, atol=0)
    # The same frames from the model's outputs through Animator.render.
    animator.reset()
    tensors = frames_to_tensor(driving)
    made = animator.model_frames(animator.detect(driving), tensors)
    np.testing.assert_array_equal(tensor_to_frames(animator.render(made)), frames)
    np.testing.assert_array_equal(tensor_to_frames(made.frames), plain.animate(driving))


def test_source_is_kept_at_its_own_resolution_up_to_the_output(model):
    small = tpsmm.Animator(model, _images(1, 4, 80)[0], "standard", resolution=200)
    assert small.target.source.shape == (1, 3, 80, 80)  # interpolated by the renderer
    large = tpsmm.Animator(model, _images(1, 5, 300)[0], "standard", resolution=120)
    assert large.target.source.shape == (1, 3, 120, 120)  # reduced, anti-aliased
    odd = tpsmm.Animator(model, _images(1, 6, 71, 93)[0], "standard", resolution=77)
    assert odd.target.source.shape == (1, 3, 77, 77)  # larger than 77 across: stretched
    frames = odd.animate(_images(2, 7, S))
    assert frames.shape == (2, 77, 77, 3)
    narrow = tpsmm.Animator(model, _images(1, 8, 90, 70)[0], "standard", resolution=95)
    assert narrow.target.source.shape == (1, 3, 90, 70)  # non-square, kept
    assert narrow.animate(_images(1, 9, S)).shape == (1, 95, 95, 3)


def test_resolution_below_the_model_or_malformed_is_refused(model):
    source = _images(1, 10, 128)[0]
    with pytest.raises(TPSMMError, match=f"below the model's frame size {S}"):
        tpsmm.Animator(model, source, resolution=S - 1)
    for bad in (0, -5, 1.5, "big", True, 10_000):
        with pytest.raises(TPSMMError, match="resolution must be"):
            tpsmm.Animator(model, source, resolution=bad)


def test_auto_is_the_sources_size_at_most_the_limit():
    assert check_resolution("512") == 512
    assert resolve_resolution("auto", 64, 150.4) == 150
    assert resolve_resolution("auto", 64, 5000) == AUTO_LIMIT
    assert resolve_resolution("auto", 256, 100) == 100  # the caller downsamples
    assert resolve_resolution(None, 256, 900) == resolve_resolution("model", 256, 900) == 256
    assert resolve_resolution(300, 256, 900) == 300


def test_motion_file_keypoints_render_at_the_resolution(model):
    animator = tpsmm.Animator(model, _images(1, 11, 90)[0], "relative", resolution=96)
    kp = animator.detect(_images(3, 12, S))
    frames = animator.animate_keypoints(kp)
    assert frames.shape == (3, 3, 96, 96)
