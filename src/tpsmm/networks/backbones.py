"""ResNet-18 and VGG-19 in plain torch, with torchvision's parameter names.

torchvision is not a dependency (its only build reachable here needs CUDA), but its
weight files load into these modules unchanged: ``resnet18().load_state_dict(sd)`` and
``VGG19Features`` for the ``features.N.*`` entries of torchvision's ``vgg19``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 convs with BatchNorm, identity or 1x1-conv shortcut."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + identity)


class ResNet18(nn.Module):
    """ResNet-18 (torchvision layout: conv1, bn1, layer1..4, fc).

    Args:
        num_outputs: size of the final linear layer ``fc`` (8 * width -> num_outputs).
        in_channels: channels of the first 7x7 stride-2 convolution.
        width: channels of the first stage; the stages have width, 2, 4 and 8 times
            width channels. 64 is torchvision's (and the authors') ResNet-18; smaller
            widths make the same network narrower (32: a quarter of the parameters).

    ``forward``: (B, in_channels, H, W) -> (B, num_outputs).
    """

    def __init__(self, num_outputs: int = 1000, in_channels: int = 3, width: int = 64):
        super().__init__()
        w1, w2, w3, w4 = width, 2 * width, 4 * width, 8 * width
        self.conv1 = nn.Conv2d(in_channels, w1, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w1)
        self.layer1 = nn.Sequential(BasicBlock(w1, w1), BasicBlock(w1, w1))
        self.layer2 = nn.Sequential(BasicBlock(w1, w2, 2), BasicBlock(w2, w2))
        self.layer3 = nn.Sequential(BasicBlock(w2, w3, 2), BasicBlock(w3, w3))
        self.layer4 = nn.Sequential(BasicBlock(w3, w4, 2), BasicBlock(w4, w4))
        self.fc = nn.Linear(w4, num_outputs)
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def stages(self, x: Tensor, count: int = 4) -> list[Tensor]:
        """The outputs of the first ``count`` stages (layer1 .. layer4): (B, width * 2^i,
        H / 2^(i+2), W / 2^(i+2)) for stage i from 0 (strides 4, 8, 16, 32)."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.max_pool2d(x, kernel_size=3, stride=2, padding=1)
        outputs = []
        for index in range(count):
            x = getattr(self, f"layer{index + 1}")(x)
            outputs.append(x)
        return outputs

    def features(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> pooled (B, 8 * width)."""
        return torch.flatten(F.adaptive_avg_pool2d(self.stages(x)[-1], 1), 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.features(x))


#: VGG-19 convolution widths ("M" = 2x2 max pool), torchvision's configuration "E".
_VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                 512, 512, 512, 512, "M", 512, 512, 512, 512, "M")  # fmt: skip
#: Feature slices ending at relu1_1, relu2_1, relu3_1, relu4_1, relu5_1.
VGG19_SLICES = ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class VGG19Features(nn.Module):
    """The first 30 layers of torchvision's VGG-19 ``features`` (through relu5_1), returning
    the activations at relu1_1 .. relu5_1.

    ``forward``: (B, 3, H, W) RGB in [0, 1] -> five feature maps; the ImageNet mean and
    std normalisation happens inside. State dict keys ``features.N.weight`` / ``.bias``
    (N in 0, 2, 5, ..., 28), as in torchvision's weight files; entries of torchvision's
    deeper layers and classifier are ignored by :meth:`load_torchvision_state_dict`.
    """

    def __init__(self):
        super().__init__()
        layers: list[nn.Module] = []
        in_channels = 3
        for item in _VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_channels, item, 3, padding=1), nn.ReLU(inplace=True)]
                in_channels = item
        self.features = nn.Sequential(*layers[: VGG19_SLICES[-1][1]])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def load_torchvision_state_dict(self, state_dict: dict[str, Tensor]) -> None:
        """Load torchvision VGG-19 weights (``features.*``); a missing entry fails."""
        own = self.state_dict()
        self.load_state_dict({k: v for k, v in state_dict.items() if k in own}, strict=True)

    def forward(self, x: Tensor) -> list[Tensor]:
        x = (x - self.mean) / self.std
        outputs = []
        for start, stop in VGG19_SLICES:
            for layer in self.features[start:stop]:
                x = layer(x)
            outputs.append(x)
        return outputs
