"""Reusable layers of the TPSMM networks, with the authors' parameter names.

Every convolution has a bias; every norm is ``InstanceNorm2d(affine=True)`` (no running
statistics, so a state dict holds only its weight and bias). Inputs and outputs are
(B, C, H, W) feature maps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpsmm import geometry


class DownBlock2d(nn.Module):
    """conv 3x3 (pad 1) -> InstanceNorm -> ReLU -> 2x2 average pool: (B, in, H, W) ->
    (B, out, H/2, W/2)."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.InstanceNorm2d(out_features, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(F.relu(self.norm(self.conv(x))), kernel_size=2)


class UpBlock2d(nn.Module):
    """nearest x2 upsample -> conv 3x3 (pad 1) -> InstanceNorm -> ReLU: (B, in, H, W) ->
    (B, out, 2H, 2W)."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.InstanceNorm2d(out_features, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        return F.relu(self.norm(self.conv(x)))


class SameBlock2d(nn.Module):
    """conv k x k -> InstanceNorm -> ReLU, resolution unchanged."""

    def __init__(self, in_features: int, out_features: int, kernel_size: int = 3, padding: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_features, out_features, kernel_size, padding=padding)
        self.norm = nn.InstanceNorm2d(out_features, affine=True)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.norm(self.conv(x)))


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
        out = self.conv1(F.relu(self.norm1(x)))
        out = self.conv2(F.relu(self.norm2(out)))
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
