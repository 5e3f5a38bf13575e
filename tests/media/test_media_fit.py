"""Fitting frames to the model's square: sizes, geometry of each mode, anti-aliasing."""

from __future__ import annotations

import numpy as np
import pytest
from media_helpers import SOURCE_PNG

from tpsmm.errors import ConfigError
from tpsmm.media import (
    DEFAULT_FIT_MODE,
    FIT_MODES,
    FrameFitter,
    fit_frame,
    fit_frames,
    load_image,
)

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def three_bands(width: int = 300, height: int = 100) -> np.ndarray:
    """Red | green | blue vertical bands; the green middle is a centred height-wide square."""
    frame = np.empty((height, width, 3), dtype=np.uint8)
    side = (width - height) // 2
    frame[:, :side] = RED
    frame[:, side : side + height] = GREEN
    frame[:, side + height :] = BLUE
    return frame


def test_modes_and_default() -> None:
    assert FIT_MODES == ("crop", "pad", "stretch")
    assert DEFAULT_FIT_MODE == "crop"


@pytest.mark.parametrize("mode", FIT_MODES)
@pytest.mark.parametrize("shape", [(100, 300), (300, 100), (64, 64), (7, 5), (412, 410)])
def test_output_is_square_uint8(mode: str, shape: tuple[int, int]) -> None:
    frame = np.random.default_rng(1).integers(0, 256, (*shape, 3), dtype=np.uint8)
    fitted = fit_frame(frame, 32, mode)  # type: ignore[arg-type]
    assert fitted.shape == (32, 32, 3)
    assert fitted.dtype == np.uint8
    assert fitted.flags.c_contiguous


def test_crop_keeps_the_centre() -> None:
    fitted = fit_frame(three_bands(), 50, "crop")
    assert (fitted == GREEN).all()


def test_crop_keeps_the_centre_of_a_portrait_frame() -> None:
    portrait = np.ascontiguousarray(three_bands().transpose(1, 0, 2))
    assert (fit_frame(portrait, 50, "crop") == GREEN).all()


def test_pad_letterboxes_with_black() -> None:
    white = np.full((100, 200, 3), 255, dtype=np.uint8)
    fitted = fit_frame(white, 64, "pad")
    assert (fitted[:16] == 0).all() and (fitted[48:] == 0).all()
    assert (fitted[16:48] == 255).all()


def test_pad_pillarboxes_a_portrait_frame() -> None:
    white = np.full((200, 100, 3), 255, dtype=np.uint8)
    fitted = fit_frame(white, 64, "pad")
    assert (fitted[:, :16] == 0).all() and (fitted[:, 48:] == 0).all()
    assert (fitted[:, 16:48] == 255).all()


def test_stretch_keeps_everything() -> None:
    fitted = fit_frame(three_bands(), 60, "stretch")
    assert (fitted[:, :15] == RED).all()
    assert (fitted[:, 25:35] == GREEN).all()
    assert (fitted[:, 45:] == BLUE).all()


def test_downscaling_is_anti_aliased() -> None:
    checkerboard = (np.indices((256, 256)).sum(axis=0) % 2 * 255).astype(np.uint8)
    frame = np.repeat(checkerboard[:, :, None], 3, axis=2)
    fitted = fit_frame(frame, 64, "stretch")
    assert abs(fitted.mean() - 127.5) < 2
    assert fitted.std() < 3  # a fine pattern averages out instead of aliasing


def test_same_size_passes_through_unchanged() -> None:
    frame = np.random.default_rng(2).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    for mode in FIT_MODES:
        fitted = fit_frame(frame, 16, mode)  # type: ignore[arg-type]
        np.testing.assert_array_equal(fitted, frame)
        assert fitted is not frame


def test_fitter_matches_fit_frame_and_is_deterministic() -> None:
    source = load_image(SOURCE_PNG)
    fitter = FrameFitter((source.shape[1], source.shape[0]), 256, "crop")
    first = fitter(source)
    np.testing.assert_array_equal(first, fitter(source))
    np.testing.assert_array_equal(first, fit_frame(source, 256))
    assert fitter.box == (2, 0, 678, 676)


def test_fit_batch() -> None:
    frames = np.random.default_rng(3).integers(0, 256, (3, 40, 60, 3), dtype=np.uint8)
    batch = fit_frames(frames, 16, "pad")
    assert batch.shape == (3, 16, 16, 3)
    for frame, fitted in zip(frames, batch, strict=True):
        np.testing.assert_array_equal(fitted, fit_frame(frame, 16, "pad"))


def test_bad_arguments() -> None:
    frame = np.zeros((10, 20, 3), dtype=np.uint8)
    with pytest.raises(ConfigError, match="unknown fit mode 'squash'"):
        fit_frame(frame, 8, "squash")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="built for"):
        FrameFitter((30, 10), 8)(frame)
    with pytest.raises(TypeError, match="uint8"):
        fit_frame(frame.astype(np.float32), 8)
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        fit_frame(np.zeros((10, 20), dtype=np.uint8), 8)
    with pytest.raises(ValueError, match="positive"):
        FrameFitter((20, 10), 0)
