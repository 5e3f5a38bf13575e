"""Augmentations: one draw per clip, authors' semantics, reproducible, config checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tpsmm.data.augmentation import (
    ColorJitter,
    RandomCrop,
    RandomResize,
    RandomRotation,
    adjust_hue,
    build_augmentation,
    hsv_to_rgb,
    rgb_to_hsv,
)
from tpsmm.errors import ConfigError


def clip(num: int = 4, height: int = 10, width: int = 14, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((num, height, width, 3), dtype=np.float32)


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_empty_params_are_identity() -> None:
    frames = clip()
    for params in (None, {}, {"flip_param": None}):
        out = build_augmentation(params)(frames, rng())
        np.testing.assert_array_equal(out, frames)
        assert out.dtype == np.float32


def test_accepts_list_of_frames_and_tensor() -> None:
    frames = clip()
    augment = build_augmentation({})
    np.testing.assert_array_equal(augment(list(frames), rng()), frames)
    np.testing.assert_array_equal(augment(torch.from_numpy(frames), rng()), frames)


def test_horizontal_flip_flips_every_frame_the_same_way() -> None:
    frames = clip()
    augment = build_augmentation({"flip_param": {"horizontal_flip": True, "time_flip": False}})
    outcomes = set()
    for seed in range(20):
        out = augment(frames, rng(seed))
        if np.array_equal(out, frames):
            outcomes.add("same")
        else:
            np.testing.assert_array_equal(out, frames[:, :, ::-1])
            outcomes.add("flipped")
    assert outcomes == {"same", "flipped"}


def test_time_flip_reverses_the_clip() -> None:
    frames = clip()
    augment = build_augmentation({"flip_param": {"time_flip": True}})
    outcomes = set()
    for seed in range(20):
        out = augment(frames, rng(seed))
        if np.array_equal(out, frames):
            outcomes.add("same")
        else:
            np.testing.assert_array_equal(out, frames[::-1])
            outcomes.add("reversed")
    assert outcomes == {"same", "reversed"}


def test_flips_are_independent() -> None:
    frames = clip()
    augment = build_augmentation({"flip_param": {"horizontal_flip": True, "time_flip": True}})
    candidates = {
        (False, False): frames,
        (True, False): frames[::-1],
        (False, True): frames[:, :, ::-1],
        (True, True): frames[::-1, :, ::-1],
    }
    seen = set()
    for seed in range(64):
        out = augment(frames, rng(seed))
        matches = [key for key, value in candidates.items() if np.array_equal(out, value)]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == set(candidates)


def test_crop_size_and_padding() -> None:
    frames = clip(3, 10, 14)
    out = build_augmentation({"crop_param": {"size": [6, 8]}})(frames, rng())
    assert out.shape == (3, 6, 8, 3)
    # The window is the same for every frame: find it in frame 0, check the others.
    found = [
        (top, left)
        for top in range(5)
        for left in range(7)
        if np.array_equal(out[0], frames[0, top : top + 6, left : left + 8])
    ]
    assert len(found) == 1
    top, left = found[0]
    np.testing.assert_array_equal(out, frames[:, top : top + 6, left : left + 8])
    padded = RandomCrop((14, 16))(torch.from_numpy(frames).permute(0, 3, 1, 2), rng())
    assert tuple(padded.shape) == (3, 3, 14, 16)
    # Even edge padding: 2 rows above, 2 below, 1 column left, 1 right.
    np.testing.assert_array_equal(padded[:, :, 2:12, 1:15].permute(0, 2, 3, 1).numpy(), frames)
    np.testing.assert_array_equal(padded[:, :, 0], padded[:, :, 2])
    assert build_augmentation({"crop_param": {"size": 5}})(frames, rng()).shape == (3, 5, 5, 3)


def test_resize_ratio() -> None:
    frames = clip(2, 20, 30)
    out = build_augmentation({"resize_param": {"ratio": [0.5, 0.5]}})(frames, rng())
    assert out.shape == (2, 10, 15, 3)
    for seed in range(5):
        out = RandomResize((0.9, 1.1), "bilinear")(torch.zeros(1, 3, 20, 30), rng(seed))
        assert 18 <= out.shape[-2] <= 22 and 27 <= out.shape[-1] <= 33


def test_rotation() -> None:
    frames = clip(2, 9, 9)
    zero = build_augmentation({"rotation_param": {"degrees": 0}})(frames, rng())
    np.testing.assert_allclose(zero, frames, atol=1e-5)
    quarter = RandomRotation((90.0, 90.0))(torch.from_numpy(frames).permute(0, 3, 1, 2), rng())
    # Counter-clockwise, as skimage.transform.rotate and np.rot90.
    np.testing.assert_allclose(
        quarter.permute(0, 2, 3, 1).numpy(), np.rot90(frames, 1, axes=(1, 2)), atol=1e-5
    )
    out = build_augmentation({"rotation_param": {"degrees": 30}})(clip(2, 10, 14), rng())
    assert out.shape == (2, 10, 14, 3)


def test_zero_jitter_is_identity() -> None:
    frames = clip()
    params = {"jitter_param": {"brightness": 0, "contrast": 0, "saturation": 0, "hue": 0}}
    np.testing.assert_array_equal(build_augmentation(params)(frames, rng()), frames)


def test_jitter_factors_and_order() -> None:
    jitter = ColorJitter(brightness=0.1, contrast=0.2, saturation=0.3, hue=0.5)
    orders = set()
    for seed in range(40):
        steps = dict(jitter.draw(rng(seed)))
        orders.add(tuple(name for name, _ in jitter.draw(rng(seed))))
        assert 0.9 <= steps["brightness"] <= 1.1
        assert 0.8 <= steps["contrast"] <= 1.2
        assert 0.7 <= steps["saturation"] <= 1.3
        assert -0.5 <= steps["hue"] <= 0.5
    assert len(orders) > 5
    assert ColorJitter(brightness=2.0).draw(rng())[0][1] >= 0.0


def test_jitter_applies_one_draw_to_all_frames() -> None:
    frame = clip(1)
    frames = np.repeat(frame, 3, axis=0)
    params = {"jitter_param": {"brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.2}}
    out = build_augmentation(params)(frames, rng(3))
    assert not np.allclose(out, frames)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_hsv_round_trip_and_hue_shift() -> None:
    rgb = torch.rand(2, 3, 5, 7)
    np.testing.assert_allclose(hsv_to_rgb(rgb_to_hsv(rgb)), rgb, atol=1e-5)
    red = torch.zeros(1, 3, 1, 1)
    red[:, 0] = 1.0
    green = adjust_hue(red, 1.0 / 3.0)
    np.testing.assert_allclose(green.flatten(), [0.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(adjust_hue(red, 0.5).flatten(), [0.0, 1.0, 1.0], atol=1e-6)
    grey = torch.full((1, 3, 2, 2), 0.4)
    np.testing.assert_allclose(adjust_hue(grey, 0.3), grey, atol=1e-6)


def test_same_seed_same_result() -> None:
    params = {
        "flip_param": {"horizontal_flip": True, "time_flip": True},
        "rotation_param": {"degrees": 10},
        "resize_param": {"ratio": [0.9, 1.1]},
        "crop_param": {"size": [8, 8]},
        "jitter_param": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.5},
    }
    augment = build_augmentation(params)
    frames = clip()
    first = augment(frames, rng(7))
    np.testing.assert_array_equal(first, augment(frames, rng(7)))
    assert first.shape == (4, 8, 8, 3)
    assert any(not np.array_equal(first, augment(frames, rng(s))) for s in range(8, 12))


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"scale_param": {}}, "unknown key 'scale_param'"),
        ({"flip_param": {"vertical_flip": True}}, r"flip_param: unknown key 'vertical_flip'"),
        ({"jitter_param": {"gamma": 0.1}}, r"jitter_param: unknown key 'gamma'"),
        ({"jitter_param": {"hue": 0.7}}, r"hue must be in \[0, 0.5\]"),
        ({"jitter_param": {"brightness": -1}}, r"brightness must be >= 0"),
        ({"crop_param": {}}, r"crop_param.size is required"),
        ({"crop_param": {"size": [0, 4]}}, r"crop_param.size must be"),
        ({"resize_param": {"ratio": [1.2, 0.8]}}, r"resize_param.ratio"),
        ({"rotation_param": {"degrees": "ten"}}, r"rotation_param.degrees"),
        ({"flip_param": {"time_flip": "yes"}}, r"time_flip must be true or false"),
        ({"flip_param": [1]}, r"flip_param must be a mapping"),
        ([1, 2], "augmentation_params must be a mapping"),
    ],
)
def test_config_errors(params: object, pattern: str) -> None:
    with pytest.raises(ConfigError, match=pattern):
        build_augmentation(params)  # type: ignore[arg-type]


def test_authors_mgif_params_build() -> None:
    params = {
        "flip_param": {"horizontal_flip": True, "time_flip": True},
        "crop_param": {"size": [256, 256]},
        "resize_param": {"ratio": [0.9, 1.1]},
        "jitter_param": {"hue": 0.5},
    }
    augment = build_augmentation(params)
    out = augment(clip(2, 240, 250), rng())
    assert out.shape == (2, 256, 256, 3)


@pytest.mark.parametrize("name", ["vox-256", "taichi-256", "ted-384", "mgif-256"])
def test_preset_augmentations_build(name: str) -> None:
    from tpsmm.config import preset

    augment = build_augmentation(preset(name).dataset_params.augmentation_params)
    out = augment(clip(2, 32, 32), rng())
    assert out.shape[0] == 2 and out.dtype == np.float32
