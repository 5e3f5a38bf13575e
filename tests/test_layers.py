"""Inference fast paths equal the reference formulation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import tpsmm
from float32_bounds import network_rtol, sum_rtol
from tiny_model import tiny_model
from tpsmm.networks.layers import (
    UpBlock2d,
    instance_norm_relu,
    one_channel_conv,
    reference_ops,
    upsample_conv,
    upsample_conv_kernels,
)


def test_upsample_conv_equals_upsampling_then_convolving():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 5, 7, dtype=torch.float64)
    conv = torch.nn.Conv2d(6, 4, 3, padding=1).double()
    expected = conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
    actual = upsample_conv(x, upsample_conv_kernels(conv.weight), conv.bias)
    assert actual.shape == (2, 4, 10, 14)
    torch.testing.assert_close(actual, expected, atol=1e-12, rtol=0)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(("channels", "kernel", "size"), [(5, 7, (9, 12)), (3, 3, (4, 4))])
def test_one_channel_conv_equals_the_convolution(memory_format, channels, kernel, size):
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, 1, kernel, padding=kernel // 2)
    x = torch.randn(2, channels, *size).contiguous(memory_format=memory_format)
    with torch.no_grad():
        fast = one_channel_conv(conv, x)
        exact = conv.double()(x.double())
    assert fast.shape == (2, 1, *size) and fast.dtype == torch.float32
    # A sum of channels * kernel^2 products and the bias in another order: within
    # sum_rtol of its terms' absolute sum (products of at most |w| |x|), twice over
    # (the taps' sums, then the shifted sums).
    terms = F.conv2d(x.double().abs(), conv.weight.double().abs(), padding=kernel // 2)
    bound = 2 * sum_rtol(channels * kernel**2 + 1) * (terms + conv.bias.double().abs())
    assert ((fast.double() - exact).abs() <= bound).all()


def test_one_channel_conv_keeps_the_convolution_elsewhere():
    """With gradients, in the reference formulation, below float32 or for other layers
    it is the convolution itself."""
    torch.manual_seed(0)
    x = torch.randn(1, 4, 8, 8)
    conv = torch.nn.Conv2d(4, 1, 5, padding=2)
    assert torch.equal(one_channel_conv(conv, x), conv(x))  # autograd on
    with torch.no_grad():
        with reference_ops():
            assert torch.equal(one_channel_conv(conv, x), conv(x))
        half = conv.to(torch.bfloat16)
        assert torch.equal(one_channel_conv(half, x.bfloat16()), half(x.bfloat16()))
        two = torch.nn.Conv2d(4, 2, 5, padding=2)
        assert torch.equal(one_channel_conv(two, x), two(x))
        shifted = torch.nn.Conv2d(4, 1, 5, padding=1)
        assert torch.equal(one_channel_conv(shifted, x), shifted(x))


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_instance_norm_relu_fast_path(memory_format):
    torch.manual_seed(0)
    norm = torch.nn.InstanceNorm2d(8, affine=True)
    torch.nn.init.uniform_(norm.weight, 0.5, 1.5)
    torch.nn.init.uniform_(norm.bias, -0.5, 0.5)
    x = (torch.randn(3, 8, 9, 9) * 3 + 1).contiguous(memory_format=memory_format)
    with torch.no_grad():
        fast = instance_norm_relu(x, norm)
        with reference_ops():
            reference = instance_norm_relu(x, norm)
    # Mean and variance are sums over the 81 pixels of a map, possibly in other orders:
    # each within sum_rtol(81) of exact relative to its terms, which the normalised,
    # scaled outputs carry (times 2: mean and variance; 4.5e-5 of the largest output).
    atol = 2 * sum_rtol(81) * float(reference.abs().max())
    torch.testing.assert_close(fast, reference, atol=atol, rtol=0)
    assert fast.is_contiguous(memory_format=memory_format)


def test_up_block_cache_follows_weight_updates():
    block = UpBlock2d(4, 2).eval()
    x = torch.randn(1, 4, 16, 16)
    with torch.no_grad():
        before = block(x)
        block.conv.weight.mul_(2)
        after = block(x)
        with reference_ops():
            reference = block(x)
    assert not torch.allclose(before, after)
    # The fused kernel adds weights that the reference applies to the same pixel one by
    # one: the same sum in another order (float32_bounds.network_rtol of the block).
    atol = network_rtol(block) * float(reference.abs().max())
    torch.testing.assert_close(after, reference, atol=atol, rtol=0)


def test_up_block_cached_kernels_keep_float64():
    """At inference in float64 the cached fused kernels stay float64 (they were once
    summed in float32, which rounded every float64 run of the model there)."""
    torch.manual_seed(0)
    block = UpBlock2d(4, 3).double().eval()
    x = torch.randn(2, 4, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        fused = block(x)
        with reference_ops():
            reference = block(x)
    assert block._fused is not None and block._fused[1].dtype == torch.float64
    torch.testing.assert_close(fused, reference, atol=1e-12, rtol=0)


def test_up_block_fused_in_training_gives_the_reference_gradients():
    torch.manual_seed(0)
    block = UpBlock2d(4, 3).double()
    x = torch.randn(2, 4, 16, 16, dtype=torch.float64)
    target = torch.randn(2, 3, 32, 32, dtype=torch.float64)

    def gradients() -> tuple[torch.Tensor, ...]:
        block.zero_grad()
        inputs = x.clone().requires_grad_()
        loss = ((block(inputs) - target) ** 2).mean()
        loss.backward()
        return (loss.detach(), inputs.grad, block.conv.weight.grad, block.conv.bias.grad)

    fused = gradients()
    with reference_ops():
        reference = gradients()
    for actual, expected in zip(fused, reference, strict=True):
        torch.testing.assert_close(actual, expected, atol=1e-12, rtol=1e-10)


@pytest.fixture(scope="module")
def tiny_setup():
    model = tiny_model(bg=True)
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    driving = rng.integers(0, 256, (3, 64, 64, 3), dtype=np.uint8)
    return model, source, driving


def test_fast_inference_equals_reference_frames(tiny_setup):
    model, source, driving = tiny_setup
    fast = tpsmm.animate(model, source, driving, batch_size=3)
    with reference_ops():
        reference = tpsmm.animate(model, source, driving, batch_size=1)
    # Fused operators, channels_last and a batch of 3 against the reference operators one
    # frame at a time: float32 rounding through the model (network_rtol, 8.6e-5) for a
    # frame value, and where a sampling position moves by that rounding a value moves by
    # up to the difference of neighbouring pixels (at most 1) times the move in pixels
    # (frame_size / 2 per unit of the [-1, 1] coordinates).
    noise = network_rtol(model)
    atol = noise * (1 + model.frame_size / 2)
    np.testing.assert_allclose(fast, reference, atol=atol, rtol=0)
    assert np.abs(fast - reference).mean() <= noise


def test_bfloat16_compute_keeps_geometry_in_float32(tiny_setup):
    import copy

    model, source, driving = tiny_setup
    reference = tpsmm.animate(model, source, driving)
    low = copy.deepcopy(model).set_compute_dtype(torch.bfloat16)
    assert low.compute_dtype == torch.bfloat16
    assert low.kp_detector.fg_encoder.fc.weight.dtype == torch.float32
    assert low.dense_motion_network.down.weight.dtype == torch.float32
    frames = tpsmm.animate(low, source, driving)
    assert frames.dtype == np.float32
    mse = float(np.mean((frames - reference) ** 2))
    assert 10 * np.log10(1 / mse) > 35
    with pytest.raises(tpsmm.TPSMMError, match="unsupported compute dtype"):
        low.set_compute_dtype(torch.int8)
