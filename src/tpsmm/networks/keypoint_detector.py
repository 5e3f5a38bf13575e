"""Keypoint detector: ResNet-18 regressing K x 5 keypoints (state prefix ``fg_encoder.``)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tpsmm.networks.backbones import ResNet18
from tpsmm.runtime import full_precision


class KeypointDetector(nn.Module):
    """ResNet-18 whose ``fc`` is Linear(8 * width, K*5*2); output ``2 * sigmoid(fc) - 1``.

    ``width`` is the ResNet's first-stage width (64: the authors' network).

    ``forward``: images (B, 3, H, W) in [0, 1] -> keypoints (B, K*5, 2) in [-1, 1], (x, y),
    at least float32 whatever the network's dtype; TPS k owns keypoints 5k .. 5k+4.
    ``fc`` runs with autocast off (in training under ``--precision bf16|fp16``), so that
    keypoints keep its weights' precision.
    """

    def __init__(self, num_tps: int = 10, num_channels: int = 3, width: int = 64):
        super().__init__()
        self.num_tps = num_tps
        self.fg_encoder = ResNet18(
            num_outputs=num_tps * 5 * 2, in_channels=num_channels, width=width
        )

    def forward(self, image: Tensor) -> Tensor:
        fc = self.fg_encoder.fc
        features = self.fg_encoder.features(image.to(fc.weight.dtype))
        with full_precision(features):
            logits = fc(features.to(fc.weight.dtype))
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        out = torch.sigmoid(logits) * 2 - 1
        return out.view(image.shape[0], self.num_tps * 5, 2)
