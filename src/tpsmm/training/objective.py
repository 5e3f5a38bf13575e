"""The generator's training objective: one forward of the full model with its losses.

:class:`GeneratorObjective` reproduces the authors' ``GeneratorFullModel.forward``
(keypoints of source and driving, background matrix from ``bg_start``, dense motion with
TPS dropout before ``dropout_epoch``, inpainting, then the perceptual, equivariance, warp
and background losses) with the same numbers and gradients, faster: the warp loss's
targets are computed without autograd, the perceptual pyramid only where it is kept
(:func:`tpsmm.geometry.antialias_downsample`), the up-blocks' upsampling fused into
their convolution (:class:`tpsmm.networks.layers.UpBlock2d`), the ResNets and the VGG in
channels-last layout, and optionally everything through ``torch.compile``
(``benchmarks/train_step.py`` measures each against a re-creation of the authors' step).

:func:`generator_losses` is the functional entry point: the authors' ``train_params``
mapping in, the dict of weighted loss terms out.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from tpsmm import geometry
from tpsmm.config import LossWeights, TrainParams, config_from_dict
from tpsmm.landmark_losses import (
    keypoint_landmark_matrix,
    landmark_flow_loss,
    landmark_keypoint_loss,
    landmark_keypoint_motion_loss,
    landmark_opening_loss,
    landmark_part_loss,
    landmark_part_targets,
    landmark_region_loss,
)
from tpsmm.losses import (
    PerceptualLoss,
    PixelPyramidLoss,
    background_loss,
    camera_loss,
    equivariance_loss,
    flow_loss,
    keypoint_motion_loss,
    load_vgg19,
    warp_loss,
)
from tpsmm.model import TPSMM
from tpsmm.networks.backbones import VGG19Features

#: Keys of the loss dict: the weights of :class:`tpsmm.config.LossWeights`, in its order
#: (the authors' terms, then ours from ``pixel`` on).
LOSS_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LossWeights))

RandomTPSLike = geometry.RandomTPS | tuple[Tensor, Tensor]

#: What the keypoints, the dense motion and the inpainting network add to the generated
#: dict (None in a background-only stage).
_GENERATED_BY_MOTION = (
    "prediction",
    "deformed",
    "occlusion_maps",
    "contribution_maps",
    "deformed_source",
    "deformation",
    "kp_source",
    "kp_driving",
)


class GeneratorObjective(nn.Module):
    """The generator's full forward and weighted losses (the authors' GeneratorFullModel).

    Args:
        model: the networks; only ``kp_detector``, ``dense_motion_network``,
            ``inpainting_network`` and ``bg_predictor`` are used (and trained).
        train_params: the training parameters (loss weights, pyramid scales, random TPS,
            dropout schedule, ``bg_start``).
        vgg: the perceptual loss's backbone (:func:`tpsmm.losses.load_vgg19`); None looks
            for torchvision's file in the torch hub cache (and fails with instructions when
            it is not there). Not needed when every perceptual weight is 0.
        channels_last: feed the keypoint detector, the background predictor and the
            perceptual VGG channels-last copies of their images (faster with oneDNN on
            CPUs; the same values up to float rounding). The dense motion and inpainting
            networks get the images as they come.
        compile: run the forward through ``torch.compile`` (compiled on the first call,
            again for a new input shape or when the background predictor or the TPS
            dropout switches on or off). About a third faster training steps on a CPU,
            the same losses up to float rounding; needs a C++ compiler (CPU) or Triton
            (GPU).

    Parameters are reached through ``self.model``, so the module can be wrapped in
    DistributedDataParallel (which then needs ``find_unused_parameters=True`` or a model
    whose unused networks - the AVD network, the background predictor before
    ``bg_start`` - do not require gradients).
    """

    def __init__(
        self,
        model: TPSMM,
        train_params: TrainParams,
        vgg: VGG19Features | None = None,
        *,
        channels_last: bool = True,
        compile: bool = False,
    ):
        super().__init__()
        self.model = model
        self.train_params = train_params
        self.channels_last = channels_last
        self.compile_forward = compile
        self._compiled: Callable[..., tuple[dict[str, Tensor], dict[str, Any]]] | None = None
        weights = train_params.loss_weights
        self.perceptual: PerceptualLoss | None = None
        if sum(weights.perceptual) != 0:
            if vgg is None:
                vgg = load_vgg19()
            self.perceptual = PerceptualLoss(
                vgg, train_params.scales, weights.perceptual, channels_last=channels_last
            )
        self.pixel: PixelPyramidLoss | None = None
        if weights.pixel != 0:
            self.pixel = PixelPyramidLoss(train_params.scales, weights.pixel)
        self.pixel_deformed: PixelPyramidLoss | None = None
        if weights.pixel_deformed != 0:
            self.pixel_deformed = PixelPyramidLoss(train_params.scales, weights.pixel_deformed)
        matrix, slots = keypoint_landmark_matrix(model.config.common.num_tps)
        self.register_buffer("landmark_matrix", matrix, persistent=False)
        self.register_buffer("landmark_slots", slots, persistent=False)
        part_landmarks, part_channels = landmark_part_targets(model.config.common.num_tps)
        self.register_buffer("part_landmarks", part_landmarks, persistent=False)
        self.register_buffer("part_channels", part_channels, persistent=False)

    def _layout(self, image: Tensor) -> Tensor:
        """``image`` in channels-last memory format when that option is on."""
        if self.channels_last:
            return image.contiguous(memory_format=torch.channels_last)
        return image

    def uses_background(self, epoch: int) -> bool:
        """Whether the background predictor takes part at ``epoch`` (it exists and
        ``epoch >= bg_start``)."""
        return self.model.bg_predictor is not None and epoch >= self.train_params.bg_start

    def uses_inpainting(self) -> bool:
        """Whether a loss needs the inpainting network's output (perceptual, warp, pixel
        or landmark_regions). Without one (a motion-only stage: flow, equivariance and
        background losses), the forward stops at the dense motion and the inpainting
        network is neither run nor changed: 'prediction' and 'deformed' are then None."""
        weights = self.train_params.loss_weights
        return (
            self.perceptual is not None
            or self.pixel is not None
            or weights.warp_loss != 0
            or weights.landmark_regions != 0
        )

    def uses_dense_motion(self) -> bool:
        """Whether a loss needs the dense motion network's flow or masks (perceptual, warp,
        pixel, pixel_deformed, flow, landmark_flow, landmark_parts). Without one (a
        keypoint stage: the equivariance, keypoint motion, landmark keypoint, landmark
        keypoint motion and landmark opening losses, and the background predictor's),
        only the keypoint detector and the background predictor run and change: the
        deformation and masks in the generated dict are then None."""
        weights = self.train_params.loss_weights
        dense = (
            weights.pixel_deformed,
            weights.flow,
            weights.landmark_flow,
            weights.landmark_parts,
        )
        return self.uses_inpainting() or any(weight != 0 for weight in dense)

    def uses_motion(self) -> bool:
        """Whether a loss needs the keypoints and the dense motion (every one but
        ``camera``, ``camera_squared`` and ``bg``). Without one (a background-only stage,
        :meth:`tpsmm.config.LossWeights.background_only`), only the background predictor
        runs and is trained: 'deformation', the keypoints and the masks in the generated
        dict are then None."""
        return not self.train_params.loss_weights.background_only()

    def loss_names(self) -> list[str]:
        """The terms :meth:`forward` can return (those with a non-zero weight; ``bg``
        only with a background predictor), in :data:`LOSS_NAMES` order."""
        weights = self.train_params.loss_weights
        active = {
            "perceptual": self.perceptual is not None,
            "equivariance_value": weights.equivariance_value != 0,
            "warp_loss": weights.warp_loss != 0,
            "bg": self.model.bg_predictor is not None and weights.bg != 0,
            "pixel": self.pixel is not None,
            "pixel_deformed": self.pixel_deformed is not None,
            "flow": weights.flow != 0,
            "camera": self.model.bg_predictor is not None and weights.camera != 0,
            "keypoint_motion": weights.keypoint_motion != 0,
            "camera_squared": self.model.bg_predictor is not None and weights.camera_squared != 0,
            "landmark_keypoints": weights.landmark_keypoints != 0,
            "landmark_flow": weights.landmark_flow != 0,
            "landmark_regions": weights.landmark_regions != 0,
            "landmark_parts": weights.landmark_parts != 0,
            "landmark_keypoint_motion": weights.landmark_keypoint_motion != 0,
            "landmark_opening": weights.landmark_opening != 0,
        }
        return [name for name in LOSS_NAMES if active[name]]

    def random_transform(
        self, batch: int, like: Tensor, generator: torch.Generator | None = None
    ) -> geometry.RandomTPS:
        """Draw the equivariance loss's random TPS for ``batch`` samples (on the CPU, as
        the authors do, or on ``generator``'s device), moved to ``like``'s device/dtype."""
        params = self.train_params.transform_params
        device = generator.device if generator is not None else torch.device("cpu")
        transform = geometry.sample_random_tps(
            batch,
            params.sigma_affine,
            params.sigma_tps,
            params.points_tps,
            generator=generator,
            device=device,
        )
        return _to_like(transform, like)

    def forward(
        self,
        source: Tensor,
        driving: Tensor,
        epoch: int,
        *,
        random_tps: RandomTPSLike | None = None,
        generator: torch.Generator | None = None,
        flow: Tensor | None = None,
        flow_valid: Tensor | None = None,
        camera: Tensor | None = None,
        camera_valid: Tensor | None = None,
        landmarks: Tensor | None = None,
        landmarks_found: Tensor | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """Losses and generated tensors for a batch of frame pairs.

        Args:
            source, driving: (B, 3, H, W) in [0, 1].
            epoch: the current epoch (0-based); sets the TPS dropout probability and
                whether the background predictor is used.
            random_tps: the equivariance loss's random TPS, as a
                :class:`tpsmm.geometry.RandomTPS` or ``(theta (B, 2, 3), control_params
                (B, 1, points_tps^2))``; drawn when None.
            generator: random generator for the TPS dropout and the random TPS (the
                global one when None).
            flow, flow_valid: the true deformation (B, H, W, 2) and where it is known
                (B, H, W) bool, for the ``flow`` loss (items of
                ``dataset_params.ground_truth_motion``); the term is 0 without them.
                With the ``keypoint_motion`` loss too.
            camera, camera_valid: the true camera maps (B, 3, 3) and which items carry
                one (B,) bool, for the ``camera`` loss (the same items).
            landmarks, landmarks_found: the 68 facial landmarks of the source and the
                driving frame (B, 2, 68, 2) and which frames carry them (B, 2) bool
                (``dataset_params.landmarks``), for the ``landmark_keypoints`` and
                ``landmark_flow`` losses; those terms are 0 without them.

        Returns:
            ``(losses, generated)``. ``losses`` holds the weighted scalar terms that apply
            (a zero weight skips its term; 'bg' needs a background predictor and
            ``epoch >= bg_start``), keys among :data:`LOSS_NAMES`. ``generated`` holds
            'prediction' (B, 3, H, W), 'deformed' (the source warped by the flow),
            'occlusion_maps' (list, coarse to fine), 'contribution_maps' (B, K+1, h, w),
            'deformed_source' (B, K+1, 3, h, w), 'deformation' (B, h, w, 2), 'kp_source',
            'kp_driving' (B, K*5, 2), 'bg_param' ((B, 3, 3) or None) and, with the
            equivariance loss, 'transformed_frame' and 'transformed_kp'.
        """
        transform = None
        if self.train_params.loss_weights.equivariance_value != 0:
            if random_tps is None:
                transform = self.random_transform(driving.shape[0], driving, generator)
            else:
                points = self.train_params.transform_params.points_tps
                transform = _to_like(_as_random_tps(random_tps, points), driving)
        compute = self._compute
        if self.compile_forward:
            if self._compiled is None:
                self._compiled = torch.compile(self._compute)
            compute = self._compiled
        return compute(
            source,
            driving,
            self.uses_background(epoch),
            self.train_params.dropout_probability(epoch),
            transform,
            generator,
            flow,
            flow_valid,
            camera,
            camera_valid,
            landmarks,
            landmarks_found,
        )

    def _compute(
        self,
        source: Tensor,
        driving: Tensor,
        use_bg: bool,
        dropout_p: float | None,
        transform: geometry.RandomTPS | None,
        generator: torch.Generator | None,
        flow: Tensor | None = None,
        flow_valid: Tensor | None = None,
        camera: Tensor | None = None,
        camera_valid: Tensor | None = None,
        landmarks: Tensor | None = None,
        landmarks_found: Tensor | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """:meth:`forward` once the epoch's switches and the random TPS are known."""
        model = self.model
        weights = self.train_params.loss_weights

        # The networks, in the authors' call order (one kp_detector call per batch: in
        # train mode each call normalises with its own BatchNorm batch statistics).
        source_cl, driving_cl = self._layout(source), self._layout(driving)
        if not self.uses_motion():
            return self._background_only(source_cl, driving_cl, use_bg, camera, camera_valid)
        kp_source = model.kp_detector(source_cl)
        kp_driving = model.kp_detector(driving_cl)
        bg_param = model.bg_predictor(source_cl, driving_cl) if use_bg else None
        motion: dict[str, Any] = dict.fromkeys(
            ("deformation", "occlusion_maps", "contribution_maps", "deformed_source")
        )
        if self.uses_dense_motion():
            motion = model.dense_motion_network(
                source, kp_source, kp_driving, bg_param, dropout_p=dropout_p, generator=generator
            )
        inpainting = model.inpainting_network
        decoded = None
        if self.uses_inpainting():
            decoded = inpainting.decode(
                source,
                inpainting.encode(source),
                motion["deformation"],
                motion["occlusion_maps"],
                return_warped_features=weights.warp_loss != 0,
            )
        generated: dict[str, Any] = {
            "prediction": decoded.prediction if decoded is not None else None,
            "deformed": decoded.deformed_source if decoded is not None else None,
            "occlusion_maps": motion["occlusion_maps"],
            "contribution_maps": motion["contribution_maps"],
            "deformed_source": motion["deformed_source"],
            "deformation": motion["deformation"],
            "kp_source": kp_source,
            "kp_driving": kp_driving,
            "bg_param": bg_param,
        }

        losses: dict[str, Tensor] = {}
        if self.perceptual is not None:
            assert decoded is not None
            losses["perceptual"] = self.perceptual(decoded.prediction, driving)

        if transform is not None:
            value, transformed, transformed_kp = equivariance_loss(
                lambda image: model.kp_detector(self._layout(image)),
                driving,
                kp_driving,
                transform,
                weights.equivariance_value,
            )
            losses["equivariance_value"] = value
            generated["transformed_frame"] = transformed
            generated["transformed_kp"] = transformed_kp

        if weights.warp_loss != 0:
            targets = inpainting.encode_targets(driving, motion["occlusion_maps"])
            assert decoded is not None and decoded.warped_features is not None
            losses["warp_loss"] = warp_loss(targets, decoded.warped_features, weights.warp_loss)

        losses.update(
            self._background_losses(source_cl, driving_cl, bg_param, camera, camera_valid)
        )

        if self.pixel is not None:
            assert decoded is not None
            losses["pixel"] = self.pixel(decoded.prediction, driving)
        if self.pixel_deformed is not None:
            # Where the flow loss knows the true motion it takes the place of this
            # photometric stand-in, which also penalises the pixels the motion uncovered.
            unknown = None
            if weights.flow != 0 and flow_valid is not None:
                unknown = ~flow_valid.flatten(1).any(dim=1)
            losses["pixel_deformed"] = self.pixel_deformed.deformed(
                source, motion["deformation"], driving, unknown
            )
        if weights.flow != 0:
            losses["flow"] = flow_loss(motion["deformation"], flow, flow_valid, weights.flow)
        if weights.keypoint_motion != 0:
            losses["keypoint_motion"] = keypoint_motion_loss(
                kp_source, kp_driving, flow, flow_valid, weights.keypoint_motion
            )
        losses.update(
            self._landmark_losses(
                kp_source,
                kp_driving,
                motion["deformation"],
                motion["contribution_maps"],
                landmarks,
                landmarks_found,
            )
        )
        if weights.landmark_regions != 0:
            assert decoded is not None
            losses["landmark_regions"] = self._region_loss(
                decoded.prediction, driving, landmarks, landmarks_found
            )
        return {name: losses[name] for name in LOSS_NAMES if name in losses}, generated

    def _landmark_losses(
        self,
        kp_source: Tensor,
        kp_driving: Tensor,
        deformation: Tensor | None,
        contribution: Tensor | None,
        landmarks: Tensor | None,
        found: Tensor | None,
    ) -> dict[str, Tensor]:
        """The ``landmark_keypoints``, ``landmark_keypoint_motion``, ``landmark_opening``,
        ``landmark_flow`` and ``landmark_parts`` terms (those weighted); 0, connected to
        the networks, for a batch without landmarks."""
        weights = self.train_params.loss_weights
        losses: dict[str, Tensor] = {}
        landmarks, found = _landmarks_or_none_found(landmarks, found, kp_source)
        if weights.landmark_keypoints != 0:
            matrix, slots = self.landmark_matrix, self.landmark_slots
            losses["landmark_keypoints"] = 0.5 * (
                landmark_keypoint_loss(
                    kp_source,
                    landmarks[:, 0],
                    found[:, 0],
                    matrix,
                    slots,
                    weights.landmark_keypoints,
                )
                + landmark_keypoint_loss(
                    kp_driving,
                    landmarks[:, 1],
                    found[:, 1],
                    matrix,
                    slots,
                    weights.landmark_keypoints,
                )
            )
        pair_terms = (
            ("landmark_keypoint_motion", landmark_keypoint_motion_loss),
            ("landmark_opening", landmark_opening_loss),
        )
        for name, pair_loss in pair_terms:
            weight = getattr(weights, name)
            if weight != 0:
                losses[name] = pair_loss(
                    kp_source,
                    kp_driving,
                    landmarks[:, 0],
                    landmarks[:, 1],
                    found.all(dim=1),
                    self.landmark_matrix,
                    self.landmark_slots,
                    weight,
                )
        if weights.landmark_flow != 0:
            assert deformation is not None
            losses["landmark_flow"] = landmark_flow_loss(
                deformation,
                landmarks[:, 0],
                landmarks[:, 1],
                found.all(dim=1),
                weights.landmark_flow,
            )
        if weights.landmark_parts != 0:
            assert contribution is not None
            losses["landmark_parts"] = landmark_part_loss(
                contribution,
                landmarks[:, 1],
                found[:, 1],
                (self.part_landmarks, self.part_channels),
                weights.landmark_parts,
            )
        return losses

    def _region_loss(
        self,
        prediction: Tensor,
        driving: Tensor,
        landmarks: Tensor | None,
        found: Tensor | None,
    ) -> Tensor:
        """The ``landmark_regions`` term on the driving frames' landmarks (0, connected
        to the prediction, for a batch without landmarks)."""
        landmarks, found = _landmarks_or_none_found(landmarks, found, prediction)
        weight = self.train_params.loss_weights.landmark_regions
        return landmark_region_loss(prediction, driving, landmarks[:, 1], found[:, 1], weight)

    def _background_losses(
        self,
        source_cl: Tensor,
        driving_cl: Tensor,
        bg_param: Tensor | None,
        camera: Tensor | None,
        camera_valid: Tensor | None,
    ) -> dict[str, Tensor]:
        """The background predictor's terms (``bg``, ``camera``, ``camera_squared``) for
        its matrices ``bg_param`` (None: the predictor is off, no terms)."""
        model = self.model
        weights = self.train_params.loss_weights
        losses: dict[str, Tensor] = {}
        if bg_param is None or model.bg_predictor is None:
            return losses
        if weights.bg != 0:
            reverse = model.bg_predictor(driving_cl, source_cl)
            losses["bg"] = background_loss(bg_param, reverse, weights.bg)
        if weights.camera != 0:
            losses["camera"] = camera_loss(bg_param, camera, camera_valid, weights.camera)
        if weights.camera_squared != 0:
            losses["camera_squared"] = camera_loss(
                bg_param, camera, camera_valid, weights.camera_squared, squared=True
            )
        return losses

    def _background_only(
        self,
        source_cl: Tensor,
        driving_cl: Tensor,
        use_bg: bool,
        camera: Tensor | None,
        camera_valid: Tensor | None,
    ) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """:meth:`_compute` of a background-only stage: the background predictor's
        matrices and terms; the other networks do not run."""
        model = self.model
        bg_param = model.bg_predictor(source_cl, driving_cl) if use_bg else None
        generated: dict[str, Any] = dict.fromkeys(_GENERATED_BY_MOTION)
        generated["bg_param"] = bg_param
        losses = self._background_losses(source_cl, driving_cl, bg_param, camera, camera_valid)
        return losses, generated


def _as_random_tps(value: RandomTPSLike, points_tps: int) -> geometry.RandomTPS:
    """A RandomTPS from itself or from ``(theta, control_params)`` (arrays or tensors)."""
    if isinstance(value, geometry.RandomTPS):
        return value
    theta, control_params = value
    theta = torch.as_tensor(np.asarray(theta) if not isinstance(theta, Tensor) else theta)
    control_params = torch.as_tensor(
        np.asarray(control_params) if not isinstance(control_params, Tensor) else control_params
    )
    points = round(control_params.shape[-1] ** 0.5)
    if points * points != control_params.shape[-1]:
        points = points_tps
    return geometry.make_random_tps(theta, control_params, points)


def _to_like(transform: geometry.RandomTPS, like: Tensor) -> geometry.RandomTPS:
    """Move a RandomTPS to ``like``'s device and dtype."""
    return geometry.RandomTPS(
        *(t.to(device=like.device, dtype=like.dtype) for t in transform)  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- functional


def as_train_params(train_params: TrainParams | Mapping[str, Any]) -> TrainParams:
    """A :class:`TrainParams` from itself or from the authors' ``train_params`` mapping
    (validated like a config file's section)."""
    if isinstance(train_params, TrainParams):
        return train_params
    return config_from_dict({"train_params": dict(train_params)}).train_params


_VGG_CACHE: dict[tuple[str, int, int], VGG19Features] = {}


def _vgg_from(weights: str | os.PathLike | VGG19Features | None) -> VGG19Features:
    """A VGG19Features from itself or a file (the last file read is kept in memory)."""
    if isinstance(weights, VGG19Features):
        return weights
    if weights is None:
        return load_vgg19()
    path = Path(weights)
    try:
        stat = path.stat()
        key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    except OSError:
        return load_vgg19(path)  # raises the explanatory error
    if key not in _VGG_CACHE:
        _VGG_CACHE.clear()
        _VGG_CACHE[key] = load_vgg19(path)
    return _VGG_CACHE[key]


def as_image_batch(images: Tensor | np.ndarray) -> Tensor:
    """(B, 3, H, W) float images in [0, 1] from a tensor or array in that layout, or from
    (B, H, W, 3) / (H, W, 3) uint8 frames (divided by 255)."""
    tensor = torch.as_tensor(images) if not isinstance(images, Tensor) else images
    if tensor.dtype == torch.uint8:
        tensor = tensor.float() / 255
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    if tensor.shape[1] != 3 and tensor.shape[-1] == 3:
        tensor = tensor.permute(0, 3, 1, 2)
    return tensor


def generator_losses(
    model: TPSMM,
    source: Tensor | np.ndarray,
    driving: Tensor | np.ndarray,
    *,
    epoch: int,
    train_params: TrainParams | Mapping[str, Any],
    vgg19_weights: str | os.PathLike | VGG19Features | None,
    random_tps: RandomTPSLike | None = None,
) -> dict[str, Tensor]:
    """The generator's weighted loss terms for one batch (with their autograd graph, so
    ``sum(losses.values()).backward()`` gives the training gradients).

    The networks run in the mode they are in (call ``model.train()`` for training:
    BatchNorm then uses batch statistics, as in the authors' training).

    Args:
        model: the networks.
        source, driving: (B, 3, H, W) float in [0, 1] (or (B, H, W, 3) uint8 frames).
        epoch: the epoch (TPS dropout before ``dropout_epoch``, background from
            ``bg_start``).
        train_params: the authors' ``train_params`` mapping (as in their YAML files) or
            a :class:`TrainParams`.
        vgg19_weights: the perceptual VGG-19: a torchvision-layout file, a loaded
            :class:`VGG19Features`, or None for the torch hub cache.
        random_tps: ``(theta (B, 2, 3), control_params (B, 1, 25))`` fixing the
            equivariance loss's random TPS; drawn from the global generator when None.

    Returns:
        ``{'perceptual', 'equivariance_value', 'warp_loss', 'bg'}`` (those that apply)
        -> scalar tensors.
    """
    params = as_train_params(train_params)
    vgg = _vgg_from(vgg19_weights) if sum(params.loss_weights.perceptual) != 0 else None
    source_t = as_image_batch(source)
    driving_t = as_image_batch(driving)
    if vgg is not None:
        vgg = vgg.to(device=source_t.device)
    objective = GeneratorObjective(model, params, vgg)
    losses, _ = objective(source_t, driving_t, epoch, random_tps=random_tps)
    return losses


def _landmarks_or_none_found(
    landmarks: Tensor | None, found: Tensor | None, like: Tensor
) -> tuple[Tensor, Tensor]:
    """The pairs' landmarks (B, 2, 68, 2) and found flags (B, 2) as given, or for a
    batch without them zeros with nothing found (the landmark terms are then 0 and stay
    connected to the networks). ``like``: a tensor of the batch (size, dtype, device)."""
    if landmarks is not None and found is not None:
        return landmarks, found
    batch = like.shape[0]
    none = torch.zeros(batch, 2, dtype=torch.bool, device=like.device)
    return like.new_zeros(batch, 2, 68, 2), none
