"""Animating one source image by a stream of driving frames, with PyTorch.

:class:`Animator` does the per-source work once (keypoints, encoder features, the
downsampled source) and then animates driving frames batch by batch, so a video of any
length runs in constant memory. With a ``resolution`` above the model's size it renders
every frame at that size from the source at its own resolution (:mod:`tpsmm.highres`).
:class:`TorchBackend` makes a :class:`tpsmm.TPSMM` an
:class:`~tpsmm.animation.backend.AnimationBackend`; :func:`load_animation_model` loads
one for animation.
"""

from __future__ import annotations

import os
from typing import Any, NamedTuple

import numpy as np
import torch
from torch import Tensor

from tpsmm import highres
from tpsmm.animation.backend import AnimationBackend, FrameAnimator, default_batch_size
from tpsmm.animation.driving import check_positive
from tpsmm.animation.keypoints import (
    check_mode,
    check_motion_scale,
    movement_scale,
    relative_keypoints,
    scale_motion,
)
from tpsmm.animation.resolution import animator_source, check_resolution
from tpsmm.checkpoint import load_model
from tpsmm.errors import TPSMMError
from tpsmm.media.tensors import check_batch, check_frames, frames_to_tensor, tensor_to_frames
from tpsmm.model import TPSMM
from tpsmm.runtime import describe, resolve_device, resolve_precision, warn_if_slow

BACKGROUND_MISSING = (
    "--background needs a model with a background predictor "
    "(model_params.common_params.bg is false in its config)"
)


class ModelFrames(NamedTuple):
    """The model's frames and what the high-resolution renderer needs of them.

    Attributes:
        frames: (B, 3, S, S) in [0, 1].
        deformation: (B, S/4, S/4, 2), driving -> source, the model's coordinates.
        occlusion: (B, 1, S, S) in [0, 1], the last occlusion mask (1: source visible).
    """

    frames: Tensor
    deformation: Tensor
    occlusion: Tensor


class Animator(FrameAnimator):
    """Animates one source image by driving frames, batch by batch, with PyTorch.

    Args:
        model: a :class:`TPSMM` (its device and dtype are used).
        source: (S, S, 3) uint8 or float in [0, 1] at the model's frame size S (numpy
            or torch; :meth:`animate` takes (B, S, S, 3) frames alike and refuses
            others with a :class:`TPSMMError`, see :func:`animate`).
        mode: ``relative`` (motion relative to the first driving frame, scaled by the
            keypoint hull areas), ``standard`` (driving keypoints as they are) or ``avd``.
        background: place the background by the background predictor's matrices of
            (source, driving frame); the authors' animation does not (off). Needs the
            driving frames (not with :meth:`animate_keypoints`).
        motion_scale: the driving motion since the reference frame is multiplied by
            this (0 still, 1 as driven, above 1 exaggerated; see
            :func:`~tpsmm.animation.keypoints.scale_motion`), in every mode.
        resolution: None (or ``"model"``, or the model's size S): frames at S x S, the
            source at S. A side N above S: frames at N x N rendered from ``source`` at
            its own resolution (any size; the model sees it resized to S; see
            :mod:`tpsmm.highres` and :mod:`tpsmm.animation.resolution`); ``"auto"``:
            the source's larger side, at most
            :data:`~tpsmm.animation.resolution.AUTO_LIMIT`. Below S: refused. Driving
            frames stay at S.

    Call :meth:`animate` with consecutive batches of a driving video (or
    :meth:`animate_keypoints` with their keypoints): the first frame it sees is the
    reference. :meth:`reset` starts a new video.
    """

    takes_keypoints = True

    def __init__(
        self,
        model: TPSMM,
        source: np.ndarray | Tensor,
        mode: str = "relative",
        *,
        background: bool = False,
        motion_scale: float = 1.0,
        resolution: int | str | None = None,
    ):
        self.model = model
        self.mode = check_mode(mode)
        self.motion_scale = check_motion_scale(motion_scale)
        if self.mode == "avd":
            model.require_avd()
        if background and model.bg_predictor is None:
            raise TPSMMError(BACKGROUND_MISSING)
        self.background = background
        parameter = next(model.parameters())
        self.device, self.dtype = parameter.device, parameter.dtype
        source, self.target = animator_source(source, resolution, model.frame_size)
        #: The :class:`~tpsmm.animation.resolution.RenderTarget`'s arrays as tensors.
        self.render_inputs: dict[str, Tensor] = {}
        if self.target is not None:
            self.render_inputs = {
                "source": torch.from_numpy(self.target.source).to(self.device),
                "points": torch.from_numpy(self.target.points).to(self.device),
                "source_box": torch.from_numpy(self.target.source_box).to(self.device),
            }
        with torch.inference_mode():
            self.state = model.prepare_source(frames_to_tensor(source, self.device, self.dtype))
        self.reset()

    @property
    def frame_size(self) -> int:
        """The side of the frames this animator gives: the resolution, or the model's."""
        return self.target.size if self.target is not None else self.model.frame_size

    def reset(self) -> None:
        """Forget the reference frame; the next batch starts a new driving video."""
        self.kp_driving_initial: Tensor | None = None
        self.scale: float | None = None

    def set_reference(self, frame: np.ndarray | Tensor) -> None:
        """Use ``frame`` (H, W, 3) as the reference (the first driving frame by default)."""
        frame = check_frames(frame, "reference frame", size=self.model.frame_size, single=True)
        with torch.inference_mode():
            kp = self.model.keypoints(frames_to_tensor(frame, self.device, self.dtype))
        self.set_reference_keypoints(kp)

    def set_reference_keypoints(self, kp: Tensor) -> None:
        """Use the frame with keypoints ``kp`` (1, K*5, 2) as the reference."""
        kp = kp.to(self.device, self.dtype)
        self.kp_driving_initial = kp
        self.scale = movement_scale(self.state.keypoints.float(), kp.float())

    def driving_keypoints(self, kp_driving: Tensor) -> Tensor:
        """The keypoints that drive the source for detected driving keypoints (B, K*5, 2)."""
        if self.kp_driving_initial is None:
            self.set_reference_keypoints(kp_driving[:1])
        kp_driving = scale_motion(kp_driving, self.kp_driving_initial, self.motion_scale)
        if self.mode == "standard":
            return kp_driving
        if self.mode == "avd":
            return self.model.avd(self.state.keypoints, kp_driving)
        return relative_keypoints(
            self.state.keypoints, kp_driving, self.kp_driving_initial, self.scale
        )

    def animate_keypoints(self, kp_driving: Tensor, driving: Tensor | None = None) -> Tensor:
        """Driving keypoints (B, K*5, 2) in [-1, 1], as :meth:`TPSMM.keypoints` gives
        them -> (B, 3, N, N) animated frames in [0, 1] (N: :attr:`frame_size`);
        ``driving``: the (B, 3, S, S) frames they are of, which ``background`` needs."""
        made = self.model_frames(kp_driving, driving)
        return made.frames if self.target is None else self.render(made)

    def render(self, made: ModelFrames) -> Tensor:
        """The model's frames rendered at the resolution N: (B, 3, N, N) in [0, 1], in
        float32 at least (:func:`tpsmm.highres.render`)."""
        if self.target is None:
            raise TPSMMError("this animator has no resolution above the model's size")
        dtype = torch.promote_types(made.frames.dtype, torch.float32)
        inputs = {name: value.to(dtype) for name, value in self.render_inputs.items()}
        with torch.inference_mode():
            return highres.render(
                inputs["source"],
                self.state.image.to(dtype),
                made.frames.to(dtype),
                made.deformation.to(dtype),
                made.occlusion.to(dtype),
                inputs["points"],
                inputs["source_box"],
            )

    def model_frames(self, kp_driving: Tensor, driving: Tensor | None = None) -> ModelFrames:
        """The model's frames at its size S for driving keypoints (B, K*5, 2), with the
        deformation and occlusion mask that made them (see :meth:`animate_keypoints`)."""
        with torch.inference_mode():
            kp = self.driving_keypoints(kp_driving.to(self.device, self.dtype))
            bg_param = None
            if self.background:
                if driving is None:
                    raise TPSMMError(
                        "--background needs the driving frames; a motion file has only "
                        "keypoints (give the video, or leave out --background)"
                    )
                source = self.state.image.expand(len(driving), -1, -1, -1)
                bg_param = self.model.background(source, driving.to(self.device, self.dtype))
            motion = self.model.motion_from_source(self.state, kp, bg_param)
            frames = self.model.generate_from_motion(self.state, motion)
            occlusion = motion["occlusion_maps"][-1]
            deformation = motion["deformation"]
            assert isinstance(occlusion, Tensor) and isinstance(deformation, Tensor)
            return ModelFrames(frames, deformation, occlusion)

    def detect(self, frames: np.ndarray | Tensor) -> Tensor:
        """The keypoints (B, K*5, 2) of (B, H, W, 3) driving frames."""
        frames = check_batch(frames, "driving", self.model.frame_size)
        with torch.inference_mode():
            return self.model.keypoints(frames_to_tensor(frames, self.device, self.dtype))

    def animate_tensor(self, driving: Tensor, keypoints: Tensor | None = None) -> Tensor:
        """(B, 3, S, S) driving frames in [0, 1] -> (B, 3, N, N) animated frames;
        ``keypoints``: theirs when already known (:meth:`detect`)."""
        with torch.inference_mode():
            driving = driving.to(self.device, self.dtype)
            kp = self.model.keypoints(driving) if keypoints is None else keypoints
            return self.animate_keypoints(kp, driving)

    def animate(self, frames: np.ndarray | Tensor, keypoints: Tensor | None = None) -> np.ndarray:
        """(B, S, S, 3) driving frames, uint8 or float in [0, 1] (one (S, S, 3) frame is
        a batch of one) -> (B, N, N, 3) float32 in [0, 1] (N: the resolution, else S);
        ``keypoints`` (B, K*5, 2): the frames' detected keypoints when already known
        (:meth:`detect`)."""
        frames = check_batch(frames, "driving", self.model.frame_size)
        driving = frames_to_tensor(frames, self.device)
        return tensor_to_frames(self.animate_tensor(driving, keypoints))


def animate(
    model: TPSMM | AnimationBackend,
    source: np.ndarray,
    driving: np.ndarray,
    mode: str = "relative",
    *,
    batch_size: int = 1,
    background: bool = False,
    resolution: int | str | None = None,
) -> np.ndarray:
    """Animate a source image by a driving video held in memory.

    Args:
        model: a loaded :class:`TPSMM`, or another backend (e.g. the onnxruntime one,
            :func:`tpsmm.load_onnx`).
        source: one (S, S, 3) frame at the model's frame size S (any size with
            ``resolution``); driving: (T, S, S, 3) frames, T >= 1 (one frame:
            ``frame[None]``). Frames are numpy arrays or torch tensors, ``uint8``
            (0-255) or floating point in [0, 1]; anything else (another size, 0-255 as
            floats, a path, None) is refused. :func:`tpsmm.media.fit_frames` brings
            frames of another size to S; :func:`tpsmm.animate_video` reads and fits
            files itself.
        mode: ``relative`` | ``standard`` | ``avd`` (as the authors' demo).
        batch_size: driving frames per forward pass.
        background: use the background predictor (see :class:`Animator`).
        resolution: frames at N x N rendered from the source at its own resolution (see
            :class:`Animator`); None: at S.

    Returns:
        (T, N, N, 3) float32 in [0, 1] (N: ``resolution``, else S).

    Raises:
        TPSMMError: frames the model cannot take, naming them and what is wrong.
    """
    backend = as_backend(model)
    source_size = None if check_resolution(resolution) is not None else backend.frame_size
    check_frames(source, "source", size=source_size, single=True)
    check_frames(driving, "driving", size=backend.frame_size)
    check_positive(batch_size, "batch size")
    animator = backend.animator(source, mode, background=background, resolution=resolution)
    outputs = [
        animator.animate(driving[start : start + batch_size])
        for start in range(0, len(driving), batch_size)
    ]
    return np.concatenate(outputs)


class TorchBackend:
    """A :class:`tpsmm.TPSMM` as an :class:`AnimationBackend` (its device and dtype)."""

    backend_name = "torch"

    def __init__(self, model: Any):
        self.model = model

    @property
    def frame_size(self) -> int:
        return self.model.frame_size

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def default_batch_size(self) -> int:
        return default_batch_size(self.device)

    def describe(self) -> str:
        return describe(self.device, self.model.compute_dtype)

    def animator(
        self,
        source: np.ndarray,
        mode: str = "relative",
        *,
        background: bool = False,
        motion_scale: float = 1.0,
        resolution: int | str | None = None,
    ) -> FrameAnimator:
        return Animator(
            self.model,
            source,
            mode,
            background=background,
            motion_scale=motion_scale,
            resolution=resolution,
        )


def as_backend(model: Any) -> AnimationBackend:
    """``model`` as an :class:`AnimationBackend`: a :class:`tpsmm.TPSMM` is wrapped in a
    :class:`TorchBackend`, a backend is returned as it is.

    Raises:
        TypeError: anything else.
    """
    if isinstance(model, AnimationBackend):
        return model
    if isinstance(model, TPSMM):
        return TorchBackend(model)
    raise TypeError(
        f"expected a tpsmm.TPSMM or an animation backend (tpsmm.export.OnnxModel), "
        f"got {type(model).__name__}"
    )


def load_animation_model(
    checkpoint: str | os.PathLike,
    config: Any = None,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = "auto",
) -> TPSMM:
    """Load a checkpoint for animation on ``device`` in ``dtype``, in eval mode: the
    policy of :mod:`tpsmm.runtime`, the same for the command line and the API.

    Args:
        checkpoint: the authors' ``.pth.tar`` or a tpsmm checkpoint.
        config: preset name, YAML path or Config; None for the file's own.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or a torch device
            (:func:`tpsmm.runtime.resolve_device`).
        dtype: ``auto``, ``float32``, ``bfloat16``, ``float16`` or a torch dtype
            (:func:`tpsmm.runtime.resolve_precision`); reduced precision goes through
            :meth:`TPSMM.set_compute_dtype` (keypoints, background, AVD and geometry stay
            float32). An explicit reduced precision that the device only emulates issues
            a :class:`tpsmm.runtime.SlowPrecisionWarning` before the weights load.

    Raises:
        TPSMMError: bad device or dtype; CheckpointError / ConfigError for the files.
    """
    target = resolve_device(device)
    precision = resolve_precision(dtype, target)
    warn_if_slow(precision, target)
    model = load_model(checkpoint, config, device=target)
    return model.set_compute_dtype(precision.dtype).eval()
