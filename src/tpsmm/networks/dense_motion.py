"""Dense motion network (paper Sec. 3.2, Eq. 5-8): blends K TPS transforms and a
background transform into an optical flow and predicts multi-resolution occlusion masks."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpsmm import geometry
from tpsmm.networks.layers import AntiAliasDownsample, Hourglass, UpBlock2d, one_channel_conv


def tps_dropout_softmax(
    logits: Tensor, drop_probability: float, generator: torch.Generator | None = None
) -> Tensor:
    """Softmax over channels with TPS dropout (paper Eq. 7-8, as the checkpoints were trained).

    Per sample and per TPS k >= 1 (not per pixel) a transform is kept with probability
    ``1 - drop_probability``; the background channel 0 is always kept. Returns
    ``keep_k exp(M_k - max) / (sum_j keep_j exp(M_j - max) + 1e-6)``.

    Args:
        logits: (B, K+1, h, w) contribution logits.
        generator: optional generator for the keep mask (drawn on the CPU, as the authors').

    Returns:
        (B, K+1, h, w) contribution maps.
    """
    batch, channels = logits.shape[:2]
    keep = (torch.rand((batch, channels), generator=generator) < 1 - drop_probability).to(
        device=logits.device, dtype=logits.dtype
    )
    keep[:, 0] = 1
    exp = (logits - logits.max(dim=1, keepdim=True).values).exp() * keep[:, :, None, None]
    return exp / (exp.sum(dim=1, keepdim=True) + 1e-6)


class DenseMotionNetwork(nn.Module):
    """Predicts the optical flow and occlusion masks from a source image and keypoints.

    The convolutions run in the dtype of the network's parameters (float32, or bfloat16 /
    float16 after :meth:`tpsmm.model.TPSMM.set_compute_dtype`); the downsampled source,
    the grids, heatmaps, softmax and flow stay in float32.

    Args:
        block_expansion, num_blocks, max_features: the hourglass's size.
        num_tps: K, the number of TPS transforms (K*5 keypoints).
        num_channels: image channels.
        scale_factor: the network works on the source downsampled by this factor
            (0.25: 64x64 for a 256x256 frame).
        multi_mask: four masks at h/2, h, 2h and 4h (full resolution) when true (needs
            ``scale_factor == 0.25``); one mask at h otherwise.
        kp_variance: variance of the keypoint heatmaps.
    """

    def __init__(
        self,
        block_expansion: int = 64,
        num_blocks: int = 5,
        max_features: int = 1024,
        num_tps: int = 10,
        num_channels: int = 3,
        scale_factor: float = 0.25,
        multi_mask: bool = True,
        kp_variance: float = 0.01,
    ):
        super().__init__()
        self.num_tps = num_tps
        self.scale_factor = scale_factor
        self.multi_mask = multi_mask
        self.kp_variance = kp_variance
        if scale_factor != 1:
            self.down = AntiAliasDownsample(num_channels, scale_factor)
        in_features = num_channels * (num_tps + 1) + num_tps * 5 + 1
        self.hourglass = Hourglass(block_expansion, in_features, num_blocks, max_features)
        out_channels = self.hourglass.out_channels
        self.maps = nn.Conv2d(out_channels[-1], num_tps + 1, kernel_size=7, padding=3)
        if multi_mask:
            self.num_up = round(math.log2(1 / scale_factor))
            num_masks = 4
            up_channels = [out_channels[-1] // 2**i for i in range(self.num_up + 1)]
            self.up = nn.ModuleList(
                UpBlock2d(up_channels[i], up_channels[i + 1]) for i in range(self.num_up)
            )
            mask_channels = out_channels[len(out_channels) - (num_masks - self.num_up) :]
            mask_channels = list(mask_channels) + up_channels[1:]
        else:
            self.num_up = 0
            mask_channels = [out_channels[-1]]
        self.occlusion = nn.ModuleList(
            nn.Conv2d(c, 1, kernel_size=7, padding=3) for c in mask_channels
        )

    @staticmethod
    def _geometry_dtype(kp: Tensor) -> torch.dtype:
        """Geometry (grids, heatmaps, flow) runs in float32 at least, whatever dtype the
        convolutions use."""
        return torch.promote_types(kp.dtype, torch.float32)

    def downsample(self, source: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, h, w) at ``scale_factor``."""
        return self.down(source) if self.scale_factor != 1 else source

    def transformations(
        self,
        kp_source: Tensor,
        kp_driving: Tensor,
        bg_param: Tensor | None,
        height: int,
        width: int,
    ) -> Tensor:
        """The K+1 sampling grids (B, K+1, h, w, 2): background first, then the K TPS.

        Each maps driving-frame coordinates to source coordinates; the background grid is
        the identity, or the identity transformed by ``bg_param`` (B, 3, 3).
        """
        batch = kp_source.shape[0]
        tps = geometry.fit_tps(
            kp_driving.view(batch, self.num_tps, 5, 2), kp_source.view(batch, self.num_tps, 5, 2)
        )
        tps_grids = geometry.tps_warp_grid(tps, height, width)
        if bg_param is None:
            bg_grid = geometry.coordinate_grid(
                height, width, dtype=kp_source.dtype, device=kp_source.device
            ).expand(batch, height, width, 2)
        else:
            bg_grid = geometry.background_grid(bg_param, height, width)
        return torch.cat((bg_grid.unsqueeze(1).to(tps_grids.dtype), tps_grids), dim=1)

    def forward(
        self,
        source: Tensor,
        kp_source: Tensor,
        kp_driving: Tensor,
        bg_param: Tensor | None = None,
        *,
        dropout_p: float | None = None,
        generator: torch.Generator | None = None,
        source_small: Tensor | None = None,
    ) -> dict[str, Tensor | list[Tensor]]:
        """Flow and masks for driving keypoints.

        Args:
            source: (B, C, H, W) in [0, 1].
            kp_source, kp_driving: (B, K*5, 2) in [-1, 1].
            bg_param: optional (B, 3, 3) background matrices.
            dropout_p: TPS dropout probability (training before ``dropout_epoch``); None
                uses the plain softmax.
            source_small: the already downsampled source (B, C, h, w), to skip the
                anti-aliased downsampling when it was done once per source.

        Returns:
            dict with 'deformation' (B, h, w, 2) the optical flow (x, y in [-1, 1]),
            'contribution_maps' (B, K+1, h, w), 'occlusion_maps' list of (B, 1, *, *)
            coarse to fine, 'deformed_source' (B, K+1, C, h, w).
        """
        if source_small is None:
            source_small = self.downsample(source.to(self._geometry_dtype(kp_source)))
        small = source_small.to(self._geometry_dtype(kp_source))
        batch, channels, height, width = small.shape
        heatmaps = geometry.flush_subnormals(
            geometry.keypoint_heatmaps(kp_driving, height, width, self.kp_variance)
            - geometry.keypoint_heatmaps(kp_source, height, width, self.kp_variance)
        )
        heatmaps = torch.cat((heatmaps.new_zeros(batch, 1, height, width), heatmaps), dim=1)

        grids = self.transformations(kp_source, kp_driving, bg_param, height, width)
        count = self.num_tps + 1
        repeated = small.unsqueeze(1).expand(batch, count, channels, height, width)
        deformed = geometry.warp(
            repeated.reshape(batch * count, channels, height, width),
            grids.reshape(batch * count, height, width, 2),
        ).view(batch, count, channels, height, width)

        compute_dtype = self.maps.weight.dtype
        features = self.hourglass(
            torch.cat((heatmaps, deformed.view(batch, -1, height, width)), dim=1).to(compute_dtype)
        )
        logits = self.maps(features[-1]).to(grids.dtype)
        if dropout_p is None:
            contribution = F.softmax(logits, dim=1)
        else:
            contribution = tps_dropout_softmax(logits, dropout_p, generator)
        deformation = (grids * contribution.unsqueeze(-1)).sum(dim=1)

        if self.multi_mask:
            first = len(self.occlusion) - self.num_up
            masks = [
                torch.sigmoid(one_channel_conv(conv, feat))
                for conv, feat in zip(self.occlusion[:first], features[-first:], strict=True)
            ]
            out = features[-1]
            for up, conv in zip(self.up, self.occlusion[first:], strict=True):
                out = up(out)
                masks.append(torch.sigmoid(one_channel_conv(conv, out)))
        else:
            masks = [torch.sigmoid(one_channel_conv(self.occlusion[0], features[-1]))]
        return {
            "deformation": deformation,
            "contribution_maps": contribution,
            "occlusion_maps": masks,
            "deformed_source": deformed,
        }
