"""Inpainting network (paper Fig. 3): warps the source's features by the optical flow,
masks occluded regions and decodes the driving frame."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from tpsmm import geometry
from tpsmm.networks.layers import DownBlock2d, ResBlock2d, SameBlock2d, UpBlock2d


class InpaintingOutput(NamedTuple):
    """What :meth:`InpaintingNetwork.decode` returns.

    Attributes:
        prediction: (B, C, H, W) in [0, 1].
        deformed_source: (B, C, H, W) the source warped by the flow.
        warped_features: only when asked for (training's warp loss): per level, the warp
            of *detached* source features by the flow, masked by *detached* masks, ordered
            coarse to fine ([512 @ H/8, 256 @ H/4, 128 @ H/2, 64 @ H] for the published
            size); gradient reaches only the flow. None otherwise.
    """

    prediction: Tensor
    deformed_source: Tensor
    warped_features: list[Tensor] | None


class InpaintingNetwork(nn.Module):
    """Encoder over the source, decoder over warped and masked source features.

    Args:
        num_channels: image channels.
        block_expansion: channels after the first 7x7 block (64).
        max_features: channel cap (512).
        num_down_blocks: encoder depth (3); the feature maps are at H, H/2, ..., H/2^n.
        multi_mask: one occlusion mask per level (n + 1 masks, coarse to fine) when true;
            a single mask resized bilinearly to each level otherwise.
    """

    def __init__(
        self,
        num_channels: int = 3,
        block_expansion: int = 64,
        max_features: int = 512,
        num_down_blocks: int = 3,
        multi_mask: bool = True,
    ):
        super().__init__()
        self.num_down_blocks = num_down_blocks
        self.multi_mask = multi_mask
        self.first = SameBlock2d(num_channels, block_expansion, kernel_size=7, padding=3)
        down_blocks, up_blocks, resblocks = [], [], []
        for i in range(num_down_blocks):
            in_features = min(max_features, block_expansion * 2**i)
            out_features = min(max_features, block_expansion * 2 ** (i + 1))
            down_blocks.append(DownBlock2d(in_features, out_features))
            decoder_in = out_features if i == num_down_blocks - 1 else 2 * out_features
            up_blocks.append(UpBlock2d(decoder_in, in_features))
            resblocks += [ResBlock2d(decoder_in), ResBlock2d(decoder_in)]
        self.down_blocks = nn.ModuleList(down_blocks)
        # Stored coarse first, as in the authors' checkpoints.
        self.up_blocks = nn.ModuleList(up_blocks[::-1])
        self.resblock = nn.ModuleList(resblocks[::-1])
        self.final = nn.Conv2d(block_expansion, num_channels, kernel_size=7, padding=3)

    def encode(self, image: Tensor) -> list[Tensor]:
        """Source features [e0 (E @ H), e1 (2E @ H/2), ..., en], fine to coarse.

        Depends only on the source: compute it once per source image and pass it to
        :meth:`decode` for every driving frame.
        """
        features = [self.first(image.to(self.first.conv.weight.dtype))]
        for block in self.down_blocks:
            features.append(block(features[-1]))
        return features

    def _mask(self, masks: list[Tensor], level: int, like: Tensor) -> Tensor:
        """Occlusion mask for decoder level ``level`` (0 = coarsest) at ``like``'s size."""
        if self.multi_mask:
            return masks[level]
        mask = masks[0]
        if mask.shape[2:] != like.shape[2:]:
            mask = nn.functional.interpolate(
                mask, size=like.shape[2:], mode="bilinear", align_corners=True
            )
        return mask

    def decode(
        self,
        source: Tensor,
        source_features: list[Tensor],
        deformation: Tensor,
        occlusion_maps: list[Tensor],
        *,
        return_warped_features: bool = False,
    ) -> InpaintingOutput:
        """The driving frame from the source's features, the flow and the masks.

        Args:
            source: (B, C, H, W) in [0, 1].
            source_features: :meth:`encode` of the source (batch 1 or B).
            deformation: (B, h, w, 2) flow, resized to each feature map's size.
            occlusion_maps: masks from the dense motion network, coarse to fine.
            return_warped_features: also compute the detached warps for the warp loss.
        """
        batch = deformation.shape[0]
        features = [f.expand(batch, *f.shape[1:]) for f in source_features]
        warped_detached: list[Tensor] | None = [] if return_warped_features else None
        out = None
        skip = None
        for level in range(self.num_down_blocks + 1):
            feature = features[self.num_down_blocks - level]
            mask = self._mask(occlusion_maps, level, feature)
            skip = geometry.warp(feature, deformation) * mask
            if warped_detached is not None:
                warped_detached.append(geometry.warp(feature.detach(), deformation) * mask.detach())
            if out is None:
                out = skip
            elif level < self.num_down_blocks:
                out = torch.cat((out, skip), dim=1)
            if level < self.num_down_blocks:
                out = self.resblock[2 * level](out)
                out = self.resblock[2 * level + 1](out)
                out = self.up_blocks[level](out)
        last_mask = self._mask(occlusion_maps, self.num_down_blocks, out)
        out = out * (1 - last_mask) + skip
        out = torch.sigmoid(self.final(out))
        deformed_source = geometry.warp(source.expand(batch, *source.shape[1:]), deformation)
        prediction = out * (1 - last_mask) + deformed_source * last_mask
        return InpaintingOutput(prediction, deformed_source, warped_detached)

    def forward(self, source: Tensor, deformation: Tensor, occlusion_maps: list[Tensor]) -> Tensor:
        """Encode the source and decode: (B, C, H, W) in [0, 1]."""
        return self.decode(source, self.encode(source), deformation, occlusion_maps).prediction

    @torch.no_grad()
    def encode_targets(self, driving: Tensor, occlusion_maps: list[Tensor]) -> list[Tensor]:
        """Targets of the warp loss (no gradient): the encoder's features of the driving
        frame masked by the matching occlusion masks, fine to coarse
        ([first(D) * mask_n, d1 * mask_{n-1}, ..., dn * mask_0])."""
        features = self.encode(driving)
        count = len(features)
        return [
            feature * self._mask(occlusion_maps, count - 1 - i, feature)
            for i, feature in enumerate(features)
        ]
