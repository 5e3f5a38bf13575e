"""Keypoint detector: ResNet-18 regressing K x 5 keypoints (state prefix ``fg_encoder.``),
or (ours) the same ResNet's first stages with a heatmap head."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpsmm.config import KEYPOINT_HEADS
from tpsmm.networks.backbones import ResNet18
from tpsmm.runtime import full_precision


class KeypointDetector(nn.Module):
    """Keypoints (B, K*5, 2) in [-1, 1], (x, y), from images (B, 3, H, W) in [0, 1];
    TPS k owns keypoints 5k .. 5k+4. At least float32 whatever the network's dtype.

    ``head="regression"`` (the authors'): ResNet-18 whose ``fc`` is Linear(8 * width,
    K*5*2); output ``2 * sigmoid(fc) - 1``. ``width`` is the ResNet's first-stage width
    (64: the authors' network). ``fc`` runs with autocast off (in training under
    ``--precision bf16|fp16``), so that keypoints keep its weights' precision.

    ``head="heatmap"`` (ours, for small models): the ResNet's first three stages (no
    ``layer4`` or ``fc``) and a :class:`HeatmapHead` on their stride-4 and stride-16
    features; each keypoint is the expected position under a softmax over its heatmap.
    A global pooling and a linear layer place points only as finely as the pooled
    features can say; a heatmap finds them where the features are, which at 128 pixels
    follows lips and eyelids far better.
    """

    def __init__(
        self, num_tps: int = 10, num_channels: int = 3, width: int = 64, head: str = "regression"
    ):
        super().__init__()
        if head not in KEYPOINT_HEADS:
            raise ValueError(f"head must be one of {KEYPOINT_HEADS}, got {head!r}")
        self.num_tps = num_tps
        self.head = head
        self.fg_encoder = ResNet18(
            num_outputs=num_tps * 5 * 2, in_channels=num_channels, width=width
        )
        self.heatmap_head: HeatmapHead | None = None
        if head == "heatmap":
            del self.fg_encoder.layer4, self.fg_encoder.fc
            self.heatmap_head = HeatmapHead(width, num_tps * 5)

    def forward(self, image: Tensor) -> Tensor:
        if self.heatmap_head is not None:
            fine, _, coarse = self.fg_encoder.stages(
                image.to(self.fg_encoder.conv1.weight.dtype), 3
            )
            return self.heatmap_head(fine, coarse, image.shape[-2:])
        fc = self.fg_encoder.fc
        features = self.fg_encoder.features(image.to(fc.weight.dtype))
        with full_precision(features):
            logits = fc(features.to(fc.weight.dtype))
        logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
        out = torch.sigmoid(logits) * 2 - 1
        return out.view(image.shape[0], self.num_tps * 5, 2)


class HeatmapHead(nn.Module):
    """Keypoints from the ResNet's stride-4 (``width`` channels) and stride-16
    (``4 * width``) features: the coarse map brought up to the fine one, both through two
    3x3 convolutions, one heatmap per keypoint, and each keypoint at the heatmap's softmax
    expectation of its cells' centres (soft-argmax), in the image's normalised
    coordinates (align_corners=True). The softmax and the expectation run in float32."""

    def __init__(self, width: int, num_keypoints: int):
        super().__init__()
        self.lateral = nn.Conv2d(4 * width, width, 1)
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(2 * width, num_keypoints, 1)

    def forward(self, fine: Tensor, coarse: Tensor, image_size: tuple[int, int]) -> Tensor:
        """(B, w, h, w') and (B, 4w, h/4, w'/4) features -> (B, N, 2) keypoints."""
        up = F.interpolate(self.lateral(coarse), size=fine.shape[-2:], mode="bilinear")
        logits = self.out(self.fuse(torch.cat((fine, up), dim=1)))
        batch, count, height, width = logits.shape
        with full_precision(logits):
            logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
            weights = torch.softmax(logits.view(batch, count, height * width), dim=-1)
            grid = _cell_centres(height, width, image_size, logits)  # (h * w', 2)
            return weights @ grid


def _cell_centres(height: int, width: int, image_size, like: Tensor) -> Tensor:
    """The centres of an (height, width) feature map's cells, (height * width, 2) (x, y)
    in the normalised coordinates of an image of ``image_size`` (H, W) that the map
    covers (cell i spans image pixels [i s, (i + 1) s) with s = W / width)."""
    image_height, image_width = (int(v) for v in image_size)
    xs = (torch.arange(width, dtype=like.dtype, device=like.device) + 0.5) * (
        image_width / width
    ) - 0.5
    ys = (torch.arange(height, dtype=like.dtype, device=like.device) + 0.5) * (
        image_height / height
    ) - 0.5
    xs = 2 * xs / (image_width - 1) - 1
    ys = 2 * ys / (image_height - 1) - 1
    return torch.stack(
        (xs.view(1, width).expand(height, width), ys.view(height, 1).expand(height, width)), -1
    ).reshape(height * width, 2)
