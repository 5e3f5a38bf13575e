"""Every array of the parity fixture (tests/reference/parity_vox256.npz, the compact copy
of ../shared/reference's) reproduced within the tolerances of the fixture's README (the
authors' code on CPU, float32)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import tpsmm
from tpsmm.animation import relative_keypoints

KEYPOINT_ATOL = 1e-5
FLOW_ATOL = 1e-4
FRAME_MAX, FRAME_MEAN = 5e-3, 1e-4


def _images(array: np.ndarray) -> torch.Tensor:
    """(..., H, W, 3) uint8 -> (N, 3, H, W) float32 in [0, 1]."""
    tensor = torch.from_numpy(array.astype(np.float32) / 255)
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    return tensor.permute(0, 3, 1, 2)


def _frames(images: torch.Tensor) -> np.ndarray:
    return images.permute(0, 2, 3, 1).numpy()


def assert_frames_close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    diff = np.abs(actual - expected)
    assert diff.max() <= FRAME_MAX, diff.max()
    assert diff.mean() <= FRAME_MEAN, diff.mean()


@pytest.fixture(scope="module")
def inputs(parity_vox256, reference_model):
    source, driving = _images(parity_vox256["source"]), _images(parity_vox256["driving"])
    with torch.no_grad():
        kp_source = reference_model.keypoints(source)
        kp_driving = reference_model.keypoints(driving)
    return source, driving, kp_source, kp_driving


def test_keypoints(parity_vox256, inputs):
    _, _, kp_source, kp_driving = inputs
    np.testing.assert_allclose(
        kp_source.numpy(), parity_vox256["kp_source"], atol=KEYPOINT_ATOL, rtol=0
    )
    np.testing.assert_allclose(
        kp_driving.numpy(), parity_vox256["kp_driving"], atol=KEYPOINT_ATOL, rtol=0
    )


@torch.no_grad()
def test_dense_motion_outputs(parity_vox256, reference_model, inputs):
    source, _, kp_source, kp_driving = inputs
    motion = reference_model.motion(source, kp_source, kp_driving[1:2])
    ref = "standard_f1_"
    np.testing.assert_allclose(
        motion["deformation"].numpy(), parity_vox256[ref + "deformation"], atol=FLOW_ATOL, rtol=0
    )
    np.testing.assert_allclose(
        motion["contribution_maps"].numpy(),
        parity_vox256[ref + "contribution_maps"],
        atol=FLOW_ATOL,
        rtol=0,
    )
    assert len(motion["occlusion_maps"]) == 4
    for i, mask in enumerate(motion["occlusion_maps"]):
        np.testing.assert_allclose(
            mask.numpy(), parity_vox256[f"{ref}occlusion_{i}"], atol=FLOW_ATOL, rtol=0
        )


def test_relative_mode_keypoints(parity_vox256, inputs):
    _, _, kp_source, kp_driving = inputs
    kp_norm = relative_keypoints(kp_source, kp_driving, kp_driving[:1])
    np.testing.assert_allclose(
        kp_norm.numpy(), parity_vox256["kp_norm_relative"], atol=KEYPOINT_ATOL, rtol=0
    )


@pytest.mark.parametrize(
    ("mode", "key"), [("relative", "pred_relative"), ("standard", "pred_standard")]
)
def test_animate_frames(parity_vox256, reference_model, mode, key):
    """The public ``tpsmm.animate`` (source encoded once, frames in batches)."""
    frames = tpsmm.animate(
        reference_model, parity_vox256["source"], parity_vox256["driving"], mode=mode, batch_size=4
    )
    assert frames.dtype == np.float32
    assert_frames_close(frames[parity_vox256[f"{key}_index"]], parity_vox256[key])


@torch.no_grad()
def test_video_reconstruction_with_background(parity_vox256, reference_model, inputs):
    _, driving, _, kp_driving = inputs
    first = driving[:1].expand_as(driving)
    bg = reference_model.background(first, driving)
    np.testing.assert_allclose(bg.numpy(), parity_vox256["bg_param"], atol=FLOW_ATOL, rtol=0)
    frames = _frames(reference_model.generate(driving[:1], kp_driving[:1], kp_driving, bg))
    kept = parity_vox256["pred_reconstruction_index"]
    assert_frames_close(frames[kept], parity_vox256["pred_reconstruction"])


@torch.no_grad()
def test_explicit_keypoints_far_from_identity(parity_vox256, reference_model):
    source = _images(parity_vox256["explicit_source"])
    kp_source = torch.from_numpy(parity_vox256["explicit_kp_source"])
    kp_driving = torch.from_numpy(parity_vox256["explicit_kp_driving"])
    bg = torch.from_numpy(parity_vox256["explicit_bg_param"])
    motion = reference_model.motion(source, kp_source, kp_driving, bg)
    np.testing.assert_allclose(
        motion["deformation"].numpy(), parity_vox256["explicit_deformation"], atol=FLOW_ATOL, rtol=0
    )
    frames = _frames(reference_model.generate(source, kp_source, kp_driving, bg))
    assert_frames_close(frames, parity_vox256["explicit_pred"])


@torch.no_grad()
def test_prepared_source_equals_generate(reference_model, inputs):
    """Per-source work done once gives the same frames as encoding the source per call."""
    source, _, kp_source, kp_driving = inputs
    state = reference_model.prepare_source(source)
    once = reference_model.generate_from_source(state, kp_driving[:2])
    per_call = reference_model.generate(source, kp_source, kp_driving[:2])
    torch.testing.assert_close(once, per_call, atol=1e-5, rtol=0)
