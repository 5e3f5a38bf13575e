"""Animation-via-disentanglement network (paper Sec. 3.4)."""

from __future__ import annotations

import itertools

import torch
from torch import Tensor, nn


def _mlp(sizes: list[int]) -> nn.Sequential:
    """Linear -> BatchNorm1d -> ReLU for each hidden size, then a final Linear.
    Indices match the authors' ``nn.Sequential`` (0, 1, 3, 4, 6, 7, 9)."""
    layers: list[nn.Module] = []
    for i, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(fan_in, fan_out))
        if i < len(sizes) - 2:
            layers += [nn.BatchNorm1d(fan_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class AVDNetwork(nn.Module):
    """Identity and pose encoders and a decoder over keypoints.

    ``forward``: source and driving keypoints (B, K*5, 2) -> keypoints (B, K*5, 2) with the
    source's identity (shape) and the driving frame's pose.
    """

    def __init__(self, num_tps: int = 10, id_bottle_size: int = 128, pose_bottle_size: int = 128):
        super().__init__()
        self.num_tps = num_tps
        size = num_tps * 5 * 2
        self.id_encoder = _mlp([size, 256, 512, 1024, id_bottle_size])
        self.pose_encoder = _mlp([size, 256, 512, 1024, pose_bottle_size])
        self.decoder = _mlp([pose_bottle_size + id_bottle_size, 1024, 512, 256, size])

    def forward(self, kp_source: Tensor, kp_driving: Tensor) -> Tensor:
        batch = kp_source.shape[0]
        pose = self.pose_encoder(kp_driving.reshape(batch, -1))
        identity = self.id_encoder(kp_source.reshape(batch, -1))
        decoded = self.decoder(torch.cat((pose, identity), dim=1))
        return decoded.view(batch, self.num_tps * 5, 2)
