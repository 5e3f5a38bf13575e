"""The streaming animation as exportable modules, one per ONNX graph.

* :class:`SourceGraph` (``source.onnx``): the per-source work, done once: the source's
  keypoints, its downsampled copy for the dense motion network and the inpainting
  encoder's feature pyramid.
* :class:`ReferenceGraph` (``reference.onnx``): relative mode's reference: the
  keypoints of the reference driving frame (the first, by default) and the movement
  scale ``sqrt(area(kp_source)) / sqrt(area(kp_reference))`` (convex hulls).
* :class:`FramesGraph` (``frames_<mode>[_background].onnx``): a batch of driving frames
  plus the source state (and relative mode's reference) -> animated frames, with the
  deformation and the last occlusion mask that made them. One graph per mode
  (``standard``, ``relative``, ``avd``), each with and without the background predictor
  (the authors animate without it).
* :class:`RenderGraph` (``render.onnx``): frames above the model's size
  (:func:`tpsmm.highres.render`) from a frames graph's outputs and the source at its own
  resolution; every spatial size but the model's is dynamic.

Images are float32 (B, 3, H, W) in [0, 1]; keypoints (B, K*5, 2) in [-1, 1]. The
source state has batch 1 and is shared by every driving frame of the batch.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from tpsmm import geometry, highres
from tpsmm.animation.keypoints import check_mode, relative_keypoints
from tpsmm.errors import TPSMMError
from tpsmm.export.manifest import FRAMES_OUTPUTS
from tpsmm.model import TPSMM, SourceState


class GraphSpec(NamedTuple):
    """Names of one graph's inputs and outputs, in order, and the dynamic dimensions of
    each (name -> {dimension: label}; the batch is ``"batch"``)."""

    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    dynamic: dict[str, dict[int, str]]


def feature_names(model: TPSMM) -> tuple[str, ...]:
    """``feature_0`` (finest, full resolution) .. ``feature_n`` (coarsest)."""
    return tuple(f"feature_{i}" for i in range(model.inpainting_network.num_down_blocks + 1))


def state_names(model: TPSMM) -> tuple[str, ...]:
    """The source state a frames graph takes, in order: the source image, its keypoints,
    its downsampled copy and the encoder features."""
    return ("source", "kp_source", "source_small", *feature_names(model))


def frames_graph_name(mode: str, background: bool) -> str:
    """``frames_<mode>`` or ``frames_<mode>_background``."""
    return f"frames_{mode}" + ("_background" if background else "")


class SourceGraph(nn.Module):
    """source (B, 3, H, W) -> kp_source (B, K*5, 2), source_small (B, 3, h, w),
    feature_0 .. feature_n (the encoder pyramid, fine to coarse)."""

    def __init__(self, model: TPSMM):
        super().__init__()
        self.model = model
        self.eval()

    def spec(self) -> GraphSpec:
        outputs = ("kp_source", "source_small", *feature_names(self.model))
        return GraphSpec(("source",), outputs, batched("source", *outputs))

    def forward(self, source: Tensor) -> tuple[Tensor, ...]:
        state = self.model.prepare_source(source)
        return (state.keypoints, state.small, *state.features)


def movement_scale_tensor(kp_source: Tensor, kp_reference: Tensor) -> Tensor:
    """Relative mode's scale as a tensor (B,): sqrt of the ratio of the keypoints' convex
    hull areas, 1 where the reference's hull is flat (as
    :func:`tpsmm.animation.keypoints.movement_scale`)."""
    source_area = geometry.convex_hull_area_batched(kp_source)
    reference_area = geometry.convex_hull_area_batched(kp_reference)
    flat = reference_area <= 0
    ratio = source_area / torch.where(flat, torch.ones_like(reference_area), reference_area)
    return torch.where(flat, torch.ones_like(ratio), ratio.sqrt())


class ReferenceGraph(nn.Module):
    """reference (B, 3, H, W), kp_source (B, K*5, 2) -> kp_reference (B, K*5, 2),
    movement_scale (B,)."""

    def __init__(self, model: TPSMM):
        super().__init__()
        self.model = model
        self.eval()

    def spec(self) -> GraphSpec:
        names = ("reference", "kp_source"), ("kp_reference", "movement_scale")
        return GraphSpec(*names, batched(*names[0], *names[1]))

    def forward(self, reference: Tensor, kp_source: Tensor) -> tuple[Tensor, Tensor]:
        kp_reference = self.model.keypoints(reference)
        return kp_reference, movement_scale_tensor(kp_source, kp_reference)


def batched(*names: str) -> dict[str, dict[int, str]]:
    """Dynamic axes: the first dimension of each of ``names`` is the batch."""
    return {name: {0: "batch"} for name in names}


class FramesGraph(nn.Module):
    """driving (B, 3, H, W) plus the source state (batch 1) [plus kp_reference (1, K*5, 2)
    and movement_scale (1,) in relative mode] -> frames (B, 3, H, W) in [0, 1],
    deformation (B, H/4, W/4, 2) and occlusion (B, 1, H, W) (the last occlusion mask).

    The same computation as :meth:`tpsmm.Animator.animate_tensor`: the driving frames'
    keypoints, the mode's keypoints, then the dense motion and inpainting networks on
    the prepared source; with ``background`` the background predictor's matrices of
    (source, driving) place the background.
    """

    def __init__(self, model: TPSMM, mode: str, background: bool = False):
        super().__init__()
        check_mode(mode)
        if mode == "avd":
            model.require_avd()
        if background and model.bg_predictor is None:
            raise TPSMMError("the background graphs need a model with a background predictor")
        self.model, self.mode, self.background = model, mode, background
        self.eval()

    def spec(self) -> GraphSpec:
        extra = ("kp_reference", "movement_scale") if self.mode == "relative" else ()
        inputs = ("driving", *state_names(self.model), *extra)
        return GraphSpec(inputs, FRAMES_OUTPUTS, batched("driving", *FRAMES_OUTPUTS))

    def forward(self, driving: Tensor, *inputs: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        count = len(state_names(self.model))
        source, kp_source, small, *features = inputs[:count]
        model = self.model
        kp_driving = model.keypoints(driving)
        if self.mode == "avd":
            kp_driving = model.avd(kp_source, kp_driving)
        elif self.mode == "relative":
            kp_reference, scale = inputs[count:]
            kp_driving = relative_keypoints(
                kp_source, kp_driving, kp_reference, scale.view(-1, 1, 1)
            )
        batch = driving.shape[0]
        bg_param = None
        if self.background:
            bg_param = model.background(source.expand(batch, -1, -1, -1), driving)
        state = SourceState(source, kp_source, list(features), small)
        motion = model.motion_from_source(state, kp_driving, bg_param)
        frames = model.generate_from_motion(state, motion)
        return frames, motion["deformation"], motion["occlusion_maps"][-1]  # type: ignore[return-value]


class RenderGraph(nn.Module):
    """Frames at any resolution above the model's (:func:`tpsmm.highres.render`):

    render_source (1, 3, Hs, Ws), source_box (4,), points (1, H, W, 2), source
    (1, 3, S, S), frames (B, 3, S, S), deformation (B, S/4, S/4, 2), occlusion
    (B, 1, S, S) -> rendered (B, 3, H, W) in [0, 1]. Hs, Ws, H and W are dynamic.
    """

    def __init__(self, model: TPSMM):
        super().__init__()
        self.model = model
        self.eval()

    def spec(self) -> GraphSpec:
        inputs = ("render_source", "source_box", "points", "source", *FRAMES_OUTPUTS)
        dynamic = batched(*FRAMES_OUTPUTS, "rendered")
        dynamic["render_source"] = {2: "source_height", 3: "source_width"}
        dynamic["points"] = {1: "height", 2: "width"}
        dynamic["rendered"] |= {2: "height", 3: "width"}
        return GraphSpec(inputs, ("rendered",), dynamic)

    def forward(
        self,
        render_source: Tensor,
        source_box: Tensor,
        points: Tensor,
        source: Tensor,
        frames: Tensor,
        deformation: Tensor,
        occlusion: Tensor,
    ) -> Tensor:
        return highres.render(
            render_source, source, frames, deformation, occlusion, points, source_box
        )
