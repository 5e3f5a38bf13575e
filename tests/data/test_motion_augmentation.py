"""The random view and added motion of pairs with known motion keep the ground truth true."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tpsmm import geometry
from tpsmm.data import build_dataset
from tpsmm.data.augmentation import build_augmentation, build_motion_augmentation
from tpsmm.data.motion_augmentation import (
    MotionAugmentation,
    affine_matrix,
    apply_motion_augmentation,
)
from tpsmm.errors import ConfigError
from tpsmm.synthetic import RenderParams, write_dataset

SIZE = 48


def _smooth_image(points: torch.Tensor) -> torch.Tensor:
    """A smooth colour image of normalised points (..., 2) -> (3, ...), in [0, 1]."""
    x, y = points[..., 0], points[..., 1]
    return torch.stack(
        (
            0.5 + 0.4 * torch.sin(2.0 * x + 1.0 * y),
            0.5 + 0.4 * torch.cos(1.5 * y - 0.5 * x),
            0.5 + 0.3 * torch.sin(1.0 * x * y + 0.3),
        )
    )


def _affine_pair(camera: torch.Tensor):
    """A source and a driving frame related by the affine ``camera`` everywhere (its
    deformation is ``camera`` applied to the grid, valid where it stays in the frame)."""
    grid = geometry.coordinate_grid(SIZE, SIZE, dtype=torch.float64)
    deformation = geometry.apply_projective(camera[None], grid[None])[0]
    frames = torch.stack((_smooth_image(grid), _smooth_image(deformation))).float()
    valid = (deformation.abs() <= 1).all(-1)
    return frames, deformation.float(), valid, camera.float()


VIEW = affine_matrix(12.0, 0.1, (0.05, -0.08))
MOTION = affine_matrix(-4.0, -0.05, (0.06, 0.03))
CAMERA = affine_matrix(3.0, 0.04, (-0.05, 0.02))


def test_an_affine_motion_stays_the_camera_it_becomes():
    # A bilinearly sampled affine field is exact, so here D' must be C' on the grid to
    # float32 rounding of coordinates of magnitude <= ~2 (a few ulps: 1e-6).
    frames, deformation, valid, camera = _affine_pair(CAMERA)
    _, new_deformation, new_valid, new_camera = apply_motion_augmentation(
        frames, deformation, valid, camera, VIEW, MOTION
    )
    expected_camera = torch.linalg.inv(VIEW) @ CAMERA @ VIEW @ MOTION
    torch.testing.assert_close(new_camera.double(), expected_camera, atol=1e-6, rtol=0)
    grid = geometry.coordinate_grid(SIZE, SIZE, dtype=torch.float64)
    expected = geometry.apply_projective(expected_camera[None], grid[None])[0]
    error = (new_deformation.double() - expected).abs().amax(-1)
    assert float(error[new_valid].max()) <= 1e-6
    assert 0.5 < float(new_valid.double().mean()) < 1.0  # the borders left the frame


def test_the_new_source_warped_by_the_new_deformation_is_the_new_driving_frame():
    frames, deformation, valid, camera = _affine_pair(CAMERA)
    new_frames, new_deformation, new_valid, _ = apply_motion_augmentation(
        frames, deformation, valid, camera, VIEW, MOTION
    )
    warped = geometry.warp(new_frames[:1], new_deformation[None])[0]
    error = (warped - new_frames[1]).abs().amax(0)
    # Both frames are resampled bilinearly and the source twice. Away from the mask's
    # edge, the image's second derivatives (<= ~2.5 per unit^2) over a pixel (2/47
    # units) bound each interpolation error by 2.5 * 2 * (2/47)^2 / 8 = 1.1e-3; three of
    # them stay under 4e-3. Within two pixels of the edge a sample may blend a pixel
    # that the border's reflection made up, which kinks the image: there the error is
    # first order, |gradient| (<= 1) times a pixel, 0.043.
    inner = -torch.nn.functional.max_pool2d(-new_valid[None].float(), 5, 1, 2)[0] > 0
    assert inner.sum() > 0.4 * SIZE * SIZE
    assert float(error[inner].max()) <= 4e-3
    assert float(error[new_valid].max()) <= 0.043
    # And analytically: the driving frame shows the source image at D(V M x).
    grid = geometry.coordinate_grid(SIZE, SIZE, dtype=torch.float64)
    seen = geometry.apply_projective((CAMERA @ VIEW @ MOTION)[None], grid[None])[0]
    torch.testing.assert_close(
        new_frames[1][:, new_valid], _smooth_image(seen).float()[:, new_valid], atol=2e-3, rtol=0
    )


def test_a_hole_in_the_valid_mask_moves_with_the_frames():
    frames, deformation, valid, camera = _affine_pair(torch.eye(3, dtype=torch.float64))
    valid[10:20, 30:40] = False
    pixel = 2 / (SIZE - 1)
    view = affine_matrix(0.0, 0.0, (3 * pixel, -2 * pixel))  # whole pixels: exact
    _, _, new_valid, new_camera = apply_motion_augmentation(
        frames, deformation, valid, camera, view, torch.eye(3, dtype=torch.float64)
    )
    expected = torch.zeros(SIZE, SIZE, dtype=torch.bool)
    expected[2:, : SIZE - 3] = True  # what V x keeps inside the frame
    expected[12:22, 27:37] = False
    assert torch.equal(new_valid, expected)
    # A still camera seen from another view stays still.
    torch.testing.assert_close(new_camera, torch.eye(3), atol=1e-6, rtol=0)


def test_no_view_and_no_motion_changes_nothing():
    frames, deformation, valid, camera = _affine_pair(CAMERA)
    out = MotionAugmentation()(frames, deformation, valid, camera, np.random.default_rng(0))
    torch.testing.assert_close(out[0], frames, atol=1e-6, rtol=0)
    torch.testing.assert_close(out[1], deformation, atol=1e-6, rtol=0)
    assert torch.equal(out[2], valid)
    torch.testing.assert_close(out[3], camera, atol=1e-7, rtol=0)


def test_draws_follow_the_peaks_and_the_probability():
    augmentation = MotionAugmentation(
        view_degrees=10, view_shift=0.1, motion_probability=0.25, motion_shift=0.2
    )
    rng = np.random.default_rng(3)
    draws = [augmentation.draw(rng) for _ in range(400)]
    moved = [not torch.equal(motion, torch.eye(3, dtype=torch.float64)) for _, motion in draws]
    assert 0.15 < np.mean(moved) < 0.35
    for view, motion in draws:
        angle = np.degrees(np.arctan2(float(view[1, 0]), float(view[0, 0])))
        assert abs(angle) <= 10 and float(view[:2, 2].abs().max()) <= 0.1
        assert float(torch.linalg.det(view[:2, :2])) == pytest.approx(1.0)  # no scale drawn
        assert float(motion[:2, 2].abs().max()) <= 0.2
        torch.testing.assert_close(motion[:2, :2], torch.eye(2, dtype=torch.float64))


@pytest.mark.parametrize(
    "group, message",
    [
        ({"view_degree": 3}, "unknown key 'view_degree'"),
        ({"view_shift": -0.1}, "view_shift must be a finite number >= 0"),
        ({"motion_scale": float("inf")}, "motion_scale must be a finite number >= 0"),
        ({"motion_degrees": True}, "motion_degrees must be a finite number >= 0"),
        ({"motion_probability": 1.5}, "motion_probability must be at most 1"),
        ([1, 2], "motion_param must be a mapping"),
    ],
)
def test_bad_settings_are_named(group, message):
    with pytest.raises(ConfigError, match=message):
        build_motion_augmentation({"motion_param": group})
    with pytest.raises(ConfigError, match="motion_param"):
        build_augmentation({"motion_param": group})


def test_absent_or_null_is_off_and_clips_ignore_it():
    assert build_motion_augmentation(None) is None
    assert build_motion_augmentation({"motion_param": None}) is None
    assert build_augmentation({"motion_param": {"view_degrees": 5}}).transforms == ()


def test_dataset_items_keep_their_ground_truth_true(tmp_path):
    params = RenderParams(frame_size=32, num_frames=4, margin_pixels=6, num_points=8)
    root = tmp_path / "gt"
    write_dataset(root, 2, seed=4, params=params, test_fraction=0.0)
    settings = {
        "view_degrees": 10,
        "view_scale": 0.1,
        "view_shift": 0.1,
        "motion_probability": 1.0,
        "motion_degrees": 5,
        "motion_shift": 0.1,
    }
    dataset = build_dataset(
        {
            "root_dir": str(root),
            "frame_shape": [32, 32, 3],
            "ground_truth_motion": True,
            "augmentation_params": {"motion_param": settings},
        },
        is_train=True,
    )
    plain = build_dataset(
        {"root_dir": str(root), "frame_shape": [32, 32, 3], "ground_truth_motion": True},
        is_train=True,
    )
    dataset.set_epoch(0)
    plain.set_epoch(0)
    for index in range(2):
        for draw in range(3):
            item = dataset.get_item(index, draw)
            again = dataset.get_item(index, draw)
            assert all(torch.equal(item[k], again[k]) for k in ("source", "driving", "flow"))
            original = plain.get_item(index, draw)
            assert not torch.equal(item["camera"], original["camera"])  # motion was added
            valid = item["flow_valid"]
            assert valid.any() and bool(item["camera_valid"])
            warped = geometry.warp(item["source"][None], item["flow"][None])[0]
            error = (warped - item["driving"]).abs().amax(0)[valid]
            # Textures at 32 px are sharp: resampling both frames blurs single pixels by
            # up to a fifth of the range, but on average the ground truth explains the pair
            # as well as the unaugmented one does (about 1/255 from 8-bit rounding) plus
            # interpolation.
            assert float(error.mean()) < 0.03
