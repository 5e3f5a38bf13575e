"""Background motion predictor: an affine background transform from a frame pair."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from tpsmm.networks.backbones import ResNet18
from tpsmm.runtime import full_precision


class BackgroundPredictor(nn.Module):
    """ResNet-18 on concat(source, driving) (6 channels) predicting a 2x3 affine matrix.

    ``fc`` starts at weight 0 and bias (1, 0, 0, 0, 1, 0), i.e. the identity. ``width``
    is the ResNet's first-stage width (64: the authors' network).
    ``forward``: source, driving (B, 3, H, W) in [0, 1] -> (B, 3, 3) matrices whose last
    row is (0, 0, 1); a matrix maps driving-frame coordinates to source coordinates
    (see :func:`tpsmm.geometry.background_grid`). ``fc`` runs with autocast off (in
    training under ``--precision bf16|fp16``): a bfloat16 entry near 1 would be rounded to
    1/128, half a pixel at the edge of a 128x128 frame.
    """

    def __init__(self, num_channels: int = 3, width: int = 64):
        super().__init__()
        self.bg_encoder = ResNet18(num_outputs=6, in_channels=2 * num_channels, width=width)
        with torch.no_grad():
            self.bg_encoder.fc.weight.zero_()
            self.bg_encoder.fc.bias.copy_(torch.tensor([1.0, 0, 0, 0, 1, 0]))

    def forward(self, source: Tensor, driving: Tensor) -> Tensor:
        batch = source.shape[0]
        fc = self.bg_encoder.fc
        features = self.bg_encoder.features(torch.cat((source, driving), dim=1))
        with full_precision(features):
            affine = fc(features.to(fc.weight.dtype)).view(batch, 2, 3)
        last_row = affine.new_tensor([0.0, 0.0, 1.0]).expand(batch, 1, 3)
        return torch.cat((affine, last_row), dim=1)
