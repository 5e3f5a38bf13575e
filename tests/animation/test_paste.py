"""Paste-back: the feathered mask, colour matching, sizes, and the pixels it leaves."""

from __future__ import annotations

import numpy as np
import pytest

from tpsmm.animation.paste import PasteBack, feather_mask, square_rect
from tpsmm.media.fit import resize_box


def photo(width: int = 90, height: int = 70) -> np.ndarray:
    rng = np.random.default_rng(0)
    ys, xs = np.mgrid[0:height, 0:width]
    image = np.stack([xs * 2, ys * 3, (xs + ys) % 256], -1) + rng.integers(
        0, 20, (height, width, 3)
    )
    return np.clip(image, 0, 255).astype(np.uint8)


def test_mask_is_one_inside_and_zero_at_the_edge():
    rect = square_rect(50, 50, 40)
    mask = feather_mask(rect, (0, 0, 100, 100), feather=0.3)
    assert mask.shape == (100, 100) and mask.dtype == np.float32
    assert mask[50, 50] == 1.0 and mask[40:60, 40:60].min() == 1.0
    assert mask[:30].max() == 0.0 and mask[:, 71:].max() == 0.0  # outside the crop
    assert mask[31, 31] == 0.0  # the corners stay the source's (rounded square)
    assert 0 < mask[50, 33] < 1  # the falloff
    assert np.all(np.diff(mask[50, 30:51]) >= 0)  # rises towards the centre


def test_paste_keeps_the_source_outside_the_mask_and_has_its_size():
    image = photo()
    paster = PasteBack(image, square_rect(40.3, 33.7, 30.0), 16)
    frame = np.full((16, 16, 3), 200, np.uint8)
    out = paster.paste(frame)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert paster.output_size == (90, 70)
    x0, y0, x1, y1 = paster.region
    full = np.zeros(image.shape[:2], np.float32)
    full[y0:y1, x0:x1] = paster.mask
    outside = full == 0
    np.testing.assert_array_equal(out[outside], image[outside])
    assert (out[full == 1] != image[full == 1]).any()


def test_pasting_the_source_crop_itself_gives_the_source_back():
    image = photo(120, 100)
    rect = square_rect(60, 50, 64)
    crop = resize_box(image, rect, (64, 64))  # one model pixel per source pixel
    out = PasteBack(image, rect, 64).paste(crop)
    assert np.abs(out.astype(int) - image).max() <= 1


def test_colour_matching_removes_a_cast_at_the_seam():
    image = photo(120, 100)
    rect = square_rect(60, 50, 64)
    cast = np.array([25, -15, 10])
    tinted = np.clip(resize_box(image, rect, (64, 64)).astype(int) + cast, 0, 255)
    tinted = tinted.astype(np.uint8)
    matched = PasteBack(image, rect, 64).paste(tinted)
    plain = PasteBack(image, rect, 64, colour_match=False).paste(tinted)
    error_matched = np.abs(matched.astype(int) - image).mean()
    error_plain = np.abs(plain.astype(int) - image).mean()
    assert error_matched < error_plain / 4


def test_crops_reaching_outside_the_image():
    image = photo(60, 40)
    pad_rect = (0.0, -10.0, 60.0, 50.0)  # --fit pad: the square around the image
    out = PasteBack(image, pad_rect, 30).paste(np.zeros((30, 30, 3), np.uint8))
    assert out.shape == image.shape
    with pytest.raises(ValueError, match="does not meet"):
        PasteBack(image, (100.0, 100.0, 120.0, 120.0), 8)
