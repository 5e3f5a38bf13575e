"""The generator's loss terms as the authors compute them (paper Sec. 3.3).

Each term is a small function of tensors (or a module holding fixed weights) and returns
the *weighted* scalar loss, as the authors' ``GeneratorFullModel`` puts it in its
``loss_values`` dict:

* :class:`PerceptualLoss` - VGG-19 features of an anti-aliased image pyramid;
* :class:`PixelPyramidLoss` (ours) - L1 of the same pyramid's pixels, for training
  without ImageNet VGG-19 weights (the bundled ``demo`` model);
* :func:`equivariance_loss` - keypoints of a randomly TPS-warped driving frame;
* :func:`warp_loss` - the inpainting encoder's features of the driving frame against the
  warped source features;
* :func:`background_loss` - the background matrices of (source, driving) and
  (driving, source) should be inverse to each other;
* :func:`flow_loss` (ours) - L1 to a known deformation, for videos with ground truth;
* :func:`camera_loss` (ours) - the background matrix against the known camera motion;
* :func:`keypoint_motion_loss` (ours) - driving keypoints moved by the known deformation
  should land on the source keypoints.

Images are (B, 3, H, W) float in [0, 1]; keypoints (B, N, 2) in [-1, 1] (see
:mod:`tpsmm.geometry`). The VGG-19 weights come from torchvision's ImageNet file,
found by :func:`load_vgg19` (never downloaded).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tpsmm import geometry
from tpsmm.checkpoint import load_torch_file
from tpsmm.errors import TPSMMError, first_line
from tpsmm.networks.backbones import VGG19Features
from tpsmm.networks.layers import ImagePyramid

#: torchvision's ImageNet VGG-19 weights (the perceptual loss's backbone).
VGG19_URL = "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
VGG19_FILENAME = "vgg19-dcbb9e9d.pth"

__all__ = [
    "VGG19_FILENAME",
    "VGG19_URL",
    "PerceptualLoss",
    "PixelPyramidLoss",
    "background_loss",
    "camera_loss",
    "default_vgg19_path",
    "equivariance_loss",
    "flow_loss",
    "keypoint_motion_loss",
    "load_vgg19",
    "transform_frame",
    "warp_loss",
]


# --------------------------------------------------------------------------- VGG-19


def default_vgg19_path() -> Path:
    """Where torch's hub cache keeps torchvision's VGG-19 file:
    ``torch.hub.get_dir()/checkpoints/vgg19-dcbb9e9d.pth`` (``$TORCH_HOME/hub/...``,
    ``TORCH_HOME`` defaulting to ``~/.cache/torch``)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILENAME


def _how_to_get_vgg19() -> str:
    return (
        f"download {VGG19_URL} (torchvision's ImageNet VGG-19, 548 MB) and either put it at "
        f"{default_vgg19_path()} or pass its path (--vgg19 PATH / vgg19_weights=PATH)"
    )


def _read_vgg19_state(path: Path) -> dict[str, Tensor]:
    if not path.exists():
        raise TPSMMError(f"VGG-19 weights {path} do not exist: {_how_to_get_vgg19()}")
    if path.is_dir():
        raise TPSMMError(f"VGG-19 weights {path} is a directory, not a file: {_how_to_get_vgg19()}")
    return load_torch_file(path, f"VGG-19 weights {path}", hint=f": {_how_to_get_vgg19()}")


def load_vgg19(
    weights: str | os.PathLike | Mapping[str, Tensor] | None = None, *, allow_random: bool = False
) -> VGG19Features:
    """The perceptual loss's VGG-19 (through relu5_1), in eval mode, without gradients.

    Args:
        weights: a torchvision-layout file (``features.N.weight`` / ``.bias``; deeper
            layers and the classifier are ignored) or such a state dict. None looks for
            torchvision's file in the torch hub cache (:func:`default_vgg19_path`).
        allow_random: when no weights are given and none are cached, use a random
            initialisation instead of failing (explicit opt-in, for smoke tests only: the
            perceptual loss is then meaningless).

    Raises:
        TPSMMError: the file is missing or unreadable, lacks an entry, or (weights None,
            ``allow_random`` false) nothing is cached; the message says where to get the
            file (:data:`VGG19_URL`) and where to put it. Nothing is ever downloaded.
    """
    vgg = VGG19Features()
    state: Mapping[str, Tensor] | None
    if weights is None:
        path = default_vgg19_path()
        if path.exists():
            state = _read_vgg19_state(path)
        elif allow_random:
            state = None
        else:
            raise TPSMMError(f"no VGG-19 weights for the perceptual loss: {_how_to_get_vgg19()}")
    elif isinstance(weights, Mapping):
        state = weights
    else:
        path = Path(weights)
        state = _read_vgg19_state(path)
    if state is not None:
        try:
            vgg.load_torchvision_state_dict(dict(state))
        except RuntimeError as error:
            raise TPSMMError(
                f"VGG-19 weights do not fit torchvision's VGG-19 layout ({first_line(error)})"
            ) from None
    vgg.eval()
    vgg.requires_grad_(False)
    return vgg


# --------------------------------------------------------------------------- perceptual


class PerceptualLoss(nn.Module):
    """Multi-scale VGG-19 perceptual loss.

    ``sum_s sum_i weight_i * mean |f_i(P_s(prediction)) - f_i(P_s(real))|`` where ``P_s``
    is the anti-aliased downsample by scale ``s`` (:class:`ImagePyramid`) and ``f_i`` the
    VGG-19 activation at relu{i}_1 (ImageNet normalisation inside), summed in the authors'
    order (scales outer, layers inner). The real side carries no gradient.

    Args:
        vgg: the backbone (:func:`load_vgg19`); its parameters get no gradient.
        scales: pyramid scales, e.g. [1, 0.5, 0.25, 0.125].
        weights: one weight per VGG layer (5).
        channels_last: run the VGG in the channels-last memory format (faster on CPUs
            with oneDNN; equal to float rounding).

    ``forward(prediction, real)``: (B, 3, H, W) in [0, 1] each -> scalar.
    """

    def __init__(
        self,
        vgg: VGG19Features,
        scales: Sequence[float],
        weights: Sequence[float],
        *,
        channels_last: bool = False,
    ):
        super().__init__()
        if len(weights) != 5:
            raise ValueError(f"perceptual weights: need 5 (relu1_1 .. relu5_1), got {weights}")
        self.vgg = vgg
        self.vgg.requires_grad_(False)
        self.pyramid = ImagePyramid(list(scales), channels=3)
        self.weights = [float(w) for w in weights]
        self.channels_last = channels_last

    def features(self, image: Tensor) -> list[Tensor]:
        """VGG-19 activations (relu1_1 .. relu5_1) of (B, 3, h, w) in [0, 1]."""
        if self.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        return self.vgg(image)

    def levels(self, image: Tensor) -> list[Tensor]:
        """The image pyramid, one (B, 3, H s, W s) image per scale."""
        return self.pyramid(image)

    def real_features(self, real: Tensor) -> list[list[Tensor]]:
        """Per scale, the VGG activations of the real image, computed without autograd."""
        with torch.no_grad():
            return [self.features(level) for level in self.levels(real)]

    def forward(self, prediction: Tensor, real: Tensor) -> Tensor:
        targets = self.real_features(real)
        total: Tensor | float = 0.0
        for level, target in zip(self.levels(prediction), targets, strict=True):
            for weight, feat, ref in zip(self.weights, self.features(level), target, strict=True):
                total = total + weight * (feat - ref).abs().mean()
        return torch.as_tensor(total, device=prediction.device)


class PixelPyramidLoss(nn.Module):
    """Multi-scale L1 on pixels, with ``P_s`` the anti-aliased downsample of
    :class:`PerceptualLoss` (the real side carries no gradient):

    * :meth:`forward`: ``weight * sum_s mean |P_s(prediction) - P_s(real)|``;
    * :meth:`deformed`: ``weight * sum_s mean |warp(P_s(source), flow) - P_s(real)|``,
      the source warped by the predicted flow at each scale of the pyramid. Warping the
      blurred, smaller images gives the flow gradients that reach as far as the blur
      (a pixel of the 1/8 level is 8 pixels of the frame), where the full-resolution
      warp only sees within a pixel: the coarse-to-fine principle of optical-flow
      estimation, which lets motion be learned from few steps.

    Not in the paper: these stand in for the perceptual loss where ImageNet VGG-19
    weights cannot be had (``train_params.loss_weights.pixel`` and ``.pixel_deformed``;
    the bundled ``demo`` model is trained with them). Images are (B, 3, H, W) in [0, 1];
    ``flow`` is the dense motion network's deformation (B, h, w, 2).
    """

    def __init__(self, scales: Sequence[float], weight: float):
        super().__init__()
        self.pyramid = ImagePyramid(list(scales), channels=3)
        self.weight = float(weight)

    def _targets(self, real: Tensor) -> list[Tensor]:
        with torch.no_grad():
            return self.pyramid(real)

    def forward(self, prediction: Tensor, real: Tensor) -> Tensor:
        total: Tensor | float = 0.0
        for level, target in zip(self.pyramid(prediction), self._targets(real), strict=True):
            total = total + (level - target).abs().mean()
        return self.weight * torch.as_tensor(total, device=prediction.device)

    def deformed(
        self, source: Tensor, flow: Tensor, real: Tensor, pair_weights: Tensor | None = None
    ) -> Tensor:
        """``pair_weights`` (B,) scales each pair's term (None: every pair 1); the mean
        stays over the whole batch."""
        total: Tensor | float = 0.0
        with torch.no_grad():
            levels = self.pyramid(source)
        for level, target in zip(levels, self._targets(real), strict=True):
            warped = geometry.warp(level, flow)  # the flow resized to the level
            error = (warped - target).abs()
            if pair_weights is not None:
                error = error * pair_weights.to(error.dtype).view(-1, 1, 1, 1)
            total = total + error.mean()
        return self.weight * torch.as_tensor(total, device=source.device)


# --------------------------------------------------------------------------- equivariance


def transform_frame(frame: Tensor, transform: geometry.RandomTPS) -> Tensor:
    """Warp (B, C, H, W) frames by the equivariance loss's random TPS (bilinear,
    reflection padding, align_corners=True) -> (B, C, H, W)."""
    grid = geometry.random_tps_grid(transform, frame.shape[2], frame.shape[3])
    return geometry.warp(frame, grid.to(frame.dtype), padding_mode="reflection")


def equivariance_loss(
    kp_detector: Callable[[Tensor], Tensor],
    driving: Tensor,
    kp_driving: Tensor,
    transform: geometry.RandomTPS,
    weight: float,
) -> tuple[Tensor, Tensor, Tensor]:
    """Keypoint equivariance under a random TPS (the authors' ``equivariance_value``).

    The driving frame is warped by ``transform`` (:func:`transform_frame`); keypoints are
    detected on it in a call of their own (BatchNorm in train mode uses that call's batch
    statistics) and mapped back through the same transform.

    Args:
        kp_detector: images (B, 3, H, W) -> keypoints (B, N, 2).
        driving: (B, 3, H, W) in [0, 1].
        kp_driving: (B, N, 2) keypoints of ``driving``.
        transform: the random TPS (:func:`tpsmm.geometry.sample_random_tps`).
        weight: the loss weight.

    Returns:
        (``weight * mean |kp_driving - T(kp_transformed)|``, the transformed frame
        (B, 3, H, W), its keypoints (B, N, 2)).
    """
    transformed = transform_frame(driving, transform)
    transformed_kp = kp_detector(transformed)
    mapped = geometry.apply_random_tps(transform, transformed_kp)
    value = (kp_driving - mapped).abs().mean()
    return weight * value, transformed, transformed_kp


# --------------------------------------------------------------------------- warp


def warp_loss(targets: Sequence[Tensor], warped: Sequence[Tensor], weight: float) -> Tensor:
    """The authors' ``warp_loss``: ``weight * sum_l mean |target_l - warped_l|``.

    Args:
        targets: the encoder's masked features of the driving frame, fine to coarse
            (:meth:`InpaintingNetwork.encode_targets`; no gradient).
        warped: the detached source features warped by the flow and masked, coarse to
            fine (``InpaintingOutput.warped_features``); gradient reaches the flow only.
            ``targets[i]`` is paired with ``warped[-i - 1]`` (same resolution).
        weight: the loss weight.

    Returns:
        scalar.
    """
    if len(targets) != len(warped):
        raise ValueError(f"warp loss: {len(targets)} targets but {len(warped)} warped maps")
    total: Tensor | float = 0.0
    for i, target in enumerate(targets):
        total = total + (target - warped[-i - 1]).abs().mean()
    return weight * torch.as_tensor(total)


# --------------------------------------------------------------------------- flow


def flow_loss(
    deformation: Tensor, truth: Tensor | None, valid: Tensor | None, weight: float
) -> Tensor:
    """L1 to a known motion (ours; not in the paper):
    ``weight * mean over valid pixels and both coordinates of |D - D*|``.

    Args:
        deformation: the predicted deformation (B, h, w, 2), resized to the truth's size
            (bilinear, align_corners=True) as the inpainting network resizes it to warp.
        truth: the true deformation (B, H, W, 2), or None (no item has one).
        valid: (B, H, W) bool, where the truth is known.
        weight: the loss weight.

    Returns:
        scalar; 0 (connected to ``deformation``) where no pixel is valid.
    """
    if truth is None or valid is None:
        return deformation.sum() * 0.0
    predicted = geometry.resize_flow(deformation, truth.shape[1], truth.shape[2])
    mask = valid.to(predicted.dtype).unsqueeze(-1)
    total = ((predicted - truth.to(predicted.dtype)).abs() * mask).sum()
    return weight * total / (2 * mask.sum()).clamp(min=1.0)


#: Points per side of the lattice on which :func:`camera_loss` compares two matrices.
CAMERA_LOSS_POINTS = 9


def _camera_lattice_error(predicted: Tensor, truth: Tensor) -> Tensor:
    """(B, n, n, 2) differences ``P x - C x`` on the :data:`CAMERA_LOSS_POINTS` lattice
    spanning the frame ([-1, 1]^2, normalised (x, y))."""
    grid = geometry.coordinate_grid(
        CAMERA_LOSS_POINTS, CAMERA_LOSS_POINTS, dtype=predicted.dtype, device=predicted.device
    )
    grid = grid.unsqueeze(0).expand(predicted.shape[0], -1, -1, -1)
    return geometry.apply_projective(predicted, grid) - geometry.apply_projective(
        truth.to(predicted.dtype), grid
    )


def camera_loss(
    predicted: Tensor,
    truth: Tensor | None,
    valid: Tensor | None,
    weight: float,
    *,
    squared: bool = False,
) -> Tensor:
    """Distance of the background matrix to a known camera motion (ours; not in the
    paper): ``weight * mean |P x - C x|`` (or, ``squared``, ``weight * mean (P x - C
    x)^2``) over a 9 x 9 lattice of points x spanning the frame ([-1, 1]^2, normalised
    (x, y)) and both coordinates, on the items that carry a camera.

    The squared form is the one the background predictor learns from at the camera
    motions of real videos (a few pixels): its gradient does not stay at full size when
    the error is already small, which the L1 form's does (benchmarks/RESULTS.md).

    Args:
        predicted: (B, 3, 3) the background predictor's matrices (driving -> source).
        truth: (B, 3, 3) the true camera maps (frame t -> frame 0, the same convention), or
            None (no item has one).
        valid: (B,) bool, which items carry a camera.
        weight: the loss weight.
        squared: the mean squared difference instead of the mean absolute one.

    Returns:
        scalar; 0 (connected to ``predicted``) where no item carries a camera. The L1
        form is in the units of :func:`flow_loss`, so that the two weights compare.
    """
    if truth is None or valid is None:
        return predicted.sum() * 0.0
    difference = _camera_lattice_error(predicted, truth)
    error = difference.square() if squared else difference.abs()
    mask = valid.to(predicted.dtype).view(-1, 1, 1, 1)
    count = (mask.sum() * 2 * CAMERA_LOSS_POINTS**2).clamp(min=1.0)
    return weight * (error * mask).sum() / count


def keypoint_motion_loss(
    kp_source: Tensor,
    kp_driving: Tensor,
    truth: Tensor | None,
    valid: Tensor | None,
    weight: float,
) -> Tensor:
    """Keypoints that move with the scene (ours; not in the paper): each driving keypoint
    on a valid pixel, moved by the true deformation, should land on its source keypoint:
    ``weight * mean |kp_source - D*(kp_driving)|`` over those keypoints and both
    coordinates. The detector then learns points that the real motion carries (object or
    background), as the equivariance loss teaches it for random warps.

    Args:
        kp_source, kp_driving: (B, N, 2) in [-1, 1].
        truth: the true deformation (B, H, W, 2) (driving -> source, align_corners=True),
            or None (no item has one).
        valid: (B, H, W) bool, where the truth is known; a keypoint counts where all the
            pixels that its bilinear sample blends are valid.
        weight: the loss weight.

    Returns:
        scalar; 0 (connected to the keypoints) where no keypoint is on a valid pixel.
    """
    if truth is None or valid is None:
        return (kp_source.sum() + kp_driving.sum()) * 0.0
    points = kp_driving.unsqueeze(2).to(truth.dtype)  # (B, N, 1, 2): a grid of N x 1
    moved = F.grid_sample(truth.permute(0, 3, 1, 2), points, align_corners=True)
    moved = moved[..., 0].permute(0, 2, 1).to(kp_source.dtype)  # (B, N, 2)
    known = F.grid_sample(valid[:, None].to(truth.dtype), points, align_corners=True)
    mask = (known[:, 0, :, 0] >= 1.0 - 1e-6).to(kp_source.dtype).unsqueeze(-1).detach()
    total = ((kp_source - moved).abs() * mask).sum()
    return weight * total / (2 * mask.sum()).clamp(min=1.0)


# --------------------------------------------------------------------------- background


def background_loss(forward: Tensor, backward: Tensor, weight: float) -> Tensor:
    """Cycle consistency of the background matrices: ``weight * mean |B B' - I_3|``.

    Args:
        forward: (B, 3, 3) ``bg(source, driving)``.
        backward: (B, 3, 3) ``bg(driving, source)``.
        weight: the loss weight.

    Returns:
        scalar (the mean runs over all 9 entries of every sample).
    """
    product = forward @ backward
    eye = torch.eye(3, dtype=product.dtype, device=product.device)
    return weight * (product - eye).abs().mean()
