"""Reusable layers of the TPSMM networks, with the authors' parameter names.

Every convolution has a bias; every norm is ``InstanceNorm2d(affine=True)`` (no running
statistics, so a state dict holds only its weight and bias). Inputs and outputs are
(B, C, H, W) feature maps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpsmm import geometry

_FAST_INFERENCE = True


@contextlib.contextmanager
def reference_ops() -> Iterator[None]:
    """Within this block the layers use the reference formulation (``F.instance_norm``,
    nearest upsampling then a 3x3 convolution) instead of the fused fast paths, in
    inference and training; used to measure speed-ups against the authors' computation."""
    global _FAST_INFERENCE
    previous, _FAST_INFERENCE = _FAST_INFERENCE, False
    try:
        yield
    finally:
        _FAST_INFERENCE = previous


def _use_fast_path() -> bool:
    # A graph being exported takes the InstanceNormalization operator.
    return _FAST_INFERENCE and not torch.is_grad_enabled() and not geometry.is_exporting()


def instance_norm_relu(x: Tensor, norm: nn.InstanceNorm2d, relu: bool = True) -> Tensor:
    """``relu(norm(x))`` for an affine InstanceNorm2d, (B, C, H, W) -> same shape.

    With autograd off (inference) each sample is normalised by ``F.batch_norm`` in
    training mode, which for one sample is exactly what ``F.instance_norm`` computes
    (it reshapes to one sample of B*C channels and calls batch norm), but keeps the
    input's memory format: on channels_last tensors it is about 15x faster than
    ``F.instance_norm`` (a layout copy) or ``var_mean``. The ReLU is applied in place.
    With autograd on, or inside :func:`reference_ops`, ``F.instance_norm`` is used.
    """
    if not _use_fast_path():
        out = norm(x)
        return F.relu(out) if relu else out
    weight, bias = norm.weight.to(x.dtype), norm.bias.to(x.dtype)
    samples = [
        F.batch_norm(x[i : i + 1], None, None, weight, bias, True, 0.0, norm.eps)
        for i in range(x.shape[0])
    ]
    out = samples[0] if len(samples) == 1 else torch.cat(samples)
    return out.relu_() if relu else out


def upsample_conv_kernels(weight: Tensor) -> Tensor:
    """Kernels that compute ``conv3x3(nearest_upsample_x2(x))`` at the input's resolution.

    Output pixel (2i + a, 2j + b) of a 3x3 convolution (padding 1) over the nearest x2
    upsampled input only sees input rows i-1, i (a = 0) or i, i+1 (a = 1), the two
    taps falling on the same input row summing their weights (likewise for columns).
    Returns (4 * out, in, 2, 2): the 2x2 kernel of parity (a, b) at rows
    ``(2a + b) * out .. (2a + b + 1) * out``; convolving the input padded by 1 gives,
    for parity (a, b), output (i, j) at position (i + a, j + b).
    """
    rows = (
        torch.stack((weight[:, :, 0], weight[:, :, 1] + weight[:, :, 2]), dim=2),  # a = 0
        torch.stack((weight[:, :, 0] + weight[:, :, 1], weight[:, :, 2]), dim=2),  # a = 1
    )
    kernels = []
    for row in rows:  # (out, in, 2, 3)
        kernels.append(torch.stack((row[..., 0], row[..., 1] + row[..., 2]), dim=-1))  # b = 0
        kernels.append(torch.stack((row[..., 0] + row[..., 1], row[..., 2]), dim=-1))  # b = 1
    return torch.cat(kernels, dim=0)


def upsample_conv(x: Tensor, kernels: Tensor, bias: Tensor | None) -> Tensor:
    """``conv3x3(nearest_upsample_x2(x), padding=1)`` from :func:`upsample_conv_kernels`:
    (B, in, H, W) -> (B, out, 2H, 2W), 2.25x fewer multiply-adds than upsampling first.
    The result is channels_last."""
    batch, _, height, width = x.shape
    out_channels = kernels.shape[0] // 4
    y = F.conv2d(F.pad(x, (1, 1, 1, 1)), kernels)  # (B, 4 out, H + 1, W + 1)
    y = y.permute(0, 2, 3, 1).reshape(batch, height + 1, width + 1, 4, out_channels)
    rows = [
        torch.stack([y[:, a : a + height, b : b + width, 2 * a + b] for b in (0, 1)], dim=3)
        for a in (0, 1)
    ]  # each (B, H, W, 2, out)
    out = torch.stack(rows, dim=2).reshape(batch, 2 * height, 2 * width, out_channels)
    if bias is not None:
        out = out + bias.to(out.dtype)
    return out.permute(0, 3, 1, 2)


def one_channel_conv(conv: nn.Conv2d, x: Tensor) -> Tensor:
    """``conv(x)`` for a k x k convolution to one channel (stride 1, padding k // 2,
    odd k): (B, C, H, W) -> (B, 1, H, W).

    At float32 inference (outside :func:`reference_ops` and export) it runs as a 1x1
    convolution to the k*k taps, ``z[a, b] = sum_c w[c, a, b] x[c]`` over the padded
    input, then ``out[y, x] = sum_(a, b) z[a, b][y + a, x + b]`` summed row offsets
    first: equal up to float rounding (the sum's order), and 2-3x faster on the CPU,
    where oneDNN computes a single output channel slowly (the occlusion masks' 7x7
    convolutions: 4.5 -> 2.0 ms at 128x128 from 29 channels, one thread). Other dtypes
    keep the convolution, which accumulates their products in float32 once.
    """
    k = conv.kernel_size[0]
    fast = (
        _use_fast_path()
        and x.dtype == torch.float32
        and conv.out_channels == 1
        and conv.groups == 1
        and conv.kernel_size == (k, k)
        and k % 2 == 1
        and conv.stride == (1, 1)
        and conv.dilation == (1, 1)
        and conv.padding == (k // 2, k // 2)
        and conv.padding_mode == "zeros"
    )
    if not fast:
        return conv(x)
    batch, channels, height, width = x.shape
    pad = k // 2
    taps = conv.weight[0].permute(1, 2, 0).reshape(k * k, channels, 1, 1)
    z = F.conv2d(F.pad(x, (pad, pad, pad, pad)), taps)  # (B, k*k, H + 2p, W + 2p)
    z = z.view(batch, k, k, height + 2 * pad, width + 2 * pad)
    rows = z[:, 0, :, :height]
    for a in range(1, k):
        rows = rows + z[:, a, :, a : a + height]  # (B, k, H, W + 2p), by column offset
    out = rows[:, 0, :, :width]
    for b in range(1, k):
        out = out + rows[:, b, :, b : b + width]
    if conv.bias is not None:
        out = out + conv.bias
    return out.unsqueeze(1)


class DownBlock2d(nn.Module):
    """conv 3x3 (pad 1) -> InstanceNorm -> ReLU -> 2x2 average pool: (B, in, H, W) ->
    (B, out, H/2, W/2)."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.InstanceNorm2d(out_features, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(instance_norm_relu(self.conv(x), self.norm), kernel_size=2)


#: Smallest input (in pixels) for which :class:`UpBlock2d` fuses upsampling into its
#: convolution: below it the convolution is bound by reading the weights (the fused
#: kernels have 16/9 as many) rather than by arithmetic.
FUSED_UPSAMPLE_MIN_PIXELS = 16 * 16


class UpBlock2d(nn.Module):
    """nearest x2 upsample -> conv 3x3 (pad 1) -> InstanceNorm -> ReLU: (B, in, H, W) ->
    (B, out, 2H, 2W).

    For inputs of at least 16x16 the upsampling and convolution run as one convolution at
    the input's resolution (:func:`upsample_conv`), equal up to float rounding, in
    training too (the fused kernels are a differentiable function of ``conv.weight``, so
    gradients reach the same parameter); at inference the fused kernels are cached until
    the weight changes. Inside :func:`reference_ops` the block upsamples then convolves.
    """

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.InstanceNorm2d(out_features, affine=True)
        self._fused: tuple[tuple, Tensor] | None = None

    def _fused_kernels(self) -> Tensor:
        weight = self.conv.weight
        key = (weight.data_ptr(), weight._version, weight.dtype, weight.device)
        if self._fused is None or self._fused[0] != key:
            # Half-precision weights are summed in float32; float64 ones stay float64.
            wide = weight.to(torch.promote_types(weight.dtype, torch.float32))
            kernels = upsample_conv_kernels(wide).to(weight.dtype)
            self._fused = (key, kernels.contiguous(memory_format=torch.channels_last))
        return self._fused[1]

    def forward(self, x: Tensor) -> Tensor:
        fused = (
            _FAST_INFERENCE
            and self.conv.kernel_size == (3, 3)
            and self.conv.padding == (1, 1)
            and x.shape[-2] * x.shape[-1] >= FUSED_UPSAMPLE_MIN_PIXELS
        )
        if not fused:
            out = self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))
        else:
            kernels = (
                upsample_conv_kernels(self.conv.weight)
                if torch.is_grad_enabled() or geometry.is_exporting()
                else self._fused_kernels()
            )
            out = upsample_conv(x, kernels, self.conv.bias)
        return instance_norm_relu(out, self.norm)


class SameBlock2d(nn.Module):
    """conv k x k -> InstanceNorm -> ReLU, resolution unchanged."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.InstanceNorm2d(out_features, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        return instance_norm_relu(self.conv(x), self.norm)


class ResBlock2d(nn.Module):
    """Pre-activation residual block: IN -> ReLU -> conv 3x3 -> IN -> ReLU -> conv 3x3, plus
    the input. Channels and resolution unchanged."""

    def __init__(self, features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size, padding=padding)
        self.conv2 = nn.Conv2d(features, features, kernel_size, padding=padding)
        self.norm1 = nn.InstanceNorm2d(features, affine=True)
        self.norm2 = nn.InstanceNorm2d(features, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv1(instance_norm_relu(x, self.norm1))
        out = self.conv2(instance_norm_relu(out, self.norm2))
        return out + x


class AntiAliasDownsample(nn.Module):
    """Anti-aliased downsampling by ``scale`` (see :func:`tpsmm.geometry.antialias_downsample`).

    The Gaussian is a buffer named ``weight`` of shape (channels, 1, k, k), kept in the
    state dict as in the authors' checkpoints. ``scale == 1`` is the identity.
    """

    def __init__(self, channels: int, scale: float):
        super().__init__()
        self.scale = scale
        kernel = geometry.gaussian_kernel(scale) if scale != 1 else torch.ones(1, 1)
        self.register_buffer("weight", kernel.expand(channels, 1, *kernel.shape).clone())

    def forward(self, x: Tensor) -> Tensor:
        return geometry.antialias_downsample(x, self.scale, self.weight)


class ImagePyramid(nn.Module):
    """Anti-aliased copies of an image at several scales: (B, C, H, W) -> list, one per
    scale, in the order given."""

    def __init__(self, scales: list[float], channels: int = 3):
        super().__init__()
        self.scales = list(scales)
        self.downs = nn.ModuleList(AntiAliasDownsample(channels, s) for s in self.scales)

    def forward(self, x: Tensor) -> list[Tensor]:
        return [down(x) for down in self.downs]


def _channels(expansion: int, level: int, max_features: int) -> int:
    return min(max_features, expansion * 2**level)


class HourglassEncoder(nn.Module):
    """``num_blocks`` down blocks; block i maps ``in_features`` (i = 0) or
    min(M, E 2^i) channels to min(M, E 2^(i+1)). Returns [x, d1, ..., dn]."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        self.down_blocks = nn.ModuleList(
            DownBlock2d(
                in_features if i == 0 else _channels(block_expansion, i, max_features),
                _channels(block_expansion, i + 1, max_features),
            )
            for i in range(num_blocks)
        )

    def forward(self, x: Tensor) -> list[Tensor]:
        outs = [x]
        for block in self.down_blocks:
            outs.append(block(outs[-1]))
        return outs


class HourglassDecoder(nn.Module):
    """Up blocks from coarse to fine; each output is concatenated (up-block output first)
    with the encoder feature of the same resolution. Returns every concatenated output,
    coarse to fine; ``out_channels`` lists their channel counts."""

    def __init__(self, block_expansion: int, in_features: int, num_blocks: int, max_features: int):
        super().__init__()
        blocks = []
        self.out_channels: list[int] = []
        for i in reversed(range(num_blocks)):
            in_filters = (1 if i == num_blocks - 1 else 2) * _channels(
                block_expansion, i + 1, max_features
            )
            out_filters = _channels(block_expansion, i, max_features)
            blocks.append(UpBlock2d(in_filters, out_filters))
            skip = in_features if i == 0 else out_filters
            self.out_channels.append(out_filters + skip)
        self.up_blocks = nn.ModuleList(blocks)

    def forward(self, features: list[Tensor]) -> list[Tensor]:
        out = features[-1]
        outs = []
        for block, skip in zip(self.up_blocks, reversed(features[:-1]), strict=True):
            out = torch.cat((block(out), skip), dim=1)
            outs.append(out)
        return outs


class Hourglass(nn.Module):
    """U-Net style encoder-decoder; ``forward`` returns every decoder output, coarse to
    fine (the last has ``block_expansion + in_features`` channels at full resolution)."""

    def __init__(
        self, block_expansion: int, in_features: int, num_blocks: int = 3, max_features: int = 256
    ):
        super().__init__()
        self.encoder = HourglassEncoder(block_expansion, in_features, num_blocks, max_features)
        self.decoder = HourglassDecoder(block_expansion, in_features, num_blocks, max_features)
        self.out_channels = self.decoder.out_channels

    def forward(self, x: Tensor) -> list[Tensor]:
        return self.decoder(self.encoder(x))
