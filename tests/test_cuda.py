"""On a CUDA device (skipped without one; run by benchmarks/gpu_check.sh): animation in
float32 matches the CPU's, bfloat16 and float16 stay close to it, a motion file gives
the frames of its video, and a training step in bfloat16 gives finite losses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import tpsmm
from tiny_model import tiny_model

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]


def frames(count: int, size: int = 64, seed: int = 0) -> np.ndarray:
    """(count, size, size, 3) uint8 smooth random frames."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (count, 8, 8, 3)).astype(np.float32)
    return np.repeat(np.repeat(coarse, size // 8, 1), size // 8, 2).astype(np.uint8)


def test_float32_on_cuda_matches_the_cpu(tiny_checkpoint):
    source, driving = frames(1)[0], frames(6, seed=1)
    on_cpu = tpsmm.animate(tpsmm.load_model(tiny_checkpoint), source, driving, batch_size=3)
    model = tpsmm.load_animation_model(tiny_checkpoint, device="cuda", dtype="float32")
    on_gpu = tpsmm.animate(model, source, driving, batch_size=3)
    assert on_gpu.shape == on_cpu.shape
    np.testing.assert_allclose(on_gpu, on_cpu, atol=5e-3)  # TF32 convolutions allowed


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_reduced_precision_on_cuda_is_close_to_float32(tiny_checkpoint, dtype):
    source, driving = frames(1)[0], frames(6, seed=1)
    reference = tpsmm.animate(
        tpsmm.load_animation_model(tiny_checkpoint, device="cuda", dtype="float32"),
        source, driving, batch_size=3,
    )  # fmt: skip
    model = tpsmm.load_animation_model(tiny_checkpoint, device="cuda", dtype=dtype)
    result = tpsmm.animate(model, source, driving, batch_size=3)
    assert np.isfinite(result).all()
    assert np.abs(result - reference).mean() < 0.02


def test_training_step_in_bfloat16_on_cuda():
    model = tiny_model().cuda().train()
    images = torch.from_numpy(frames(4, seed=2)).permute(0, 3, 1, 2).float().div(255).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        kp_source, kp_driving = model.keypoints(images[:2]), model.keypoints(images[2:])
        out = model.generate(images[:2], kp_source, kp_driving)
    loss = (out.float() - images[2:]).abs().mean()
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_motion_file_gives_the_frames_of_its_video_on_cuda(tiny_checkpoint, dtype):
    from tpsmm.animation.extract import extract_motion
    from tpsmm.animation.pipeline import VideoAnimator

    assets = Path(tpsmm.__file__).parent / "assets"
    model = tpsmm.load_animation_model(tiny_checkpoint, device="cuda", dtype=dtype)
    motion = extract_motion(model, assets / "driving.mp4", batch_size=2, max_frames=5, audio=False)
    animator = VideoAnimator(model, assets / "source.png", batch_size=2)
    from_video = np.concatenate(list(animator.stream(assets / "driving.mp4", max_frames=5)))
    from_motion = np.concatenate(list(animator.stream(motion)))
    np.testing.assert_array_equal(from_motion, from_video)
