"""Animating one source image by a stream of driving frames.

:class:`Animator` does the per-source work once (keypoints, encoder features, the
downsampled source) and then animates driving frames batch by batch, so a video of any
length runs in constant memory.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from tpsmm.animation.backend import AnimationBackend, FrameAnimator, as_backend
from tpsmm.animation.keypoints import (
    check_mode,
    check_motion_scale,
    movement_scale,
    relative_keypoints,
    scale_motion,
)
from tpsmm.errors import TPSMMError
from tpsmm.model import TPSMM

BACKGROUND_MISSING = (
    "--background needs a model with a background predictor "
    "(model_params.common_params.bg is false in its config)"
)


def check_frames_shape(shape: tuple[int, ...]) -> None:
    """Raise :class:`TPSMMError` unless ``shape`` is that of (T, H, W, 3) frames."""
    if len(shape) != 4 or shape[-1] != 3:
        raise TPSMMError(f"frames must be (T, H, W, 3), got shape {tuple(shape)}")


def frames_to_tensor(
    frames: np.ndarray | Tensor, device: torch.device | str = "cpu", dtype=torch.float32
) -> Tensor:
    """(T, H, W, 3) uint8 (or float in [0, 1]) frames -> (T, 3, H, W) float in [0, 1]."""
    if isinstance(frames, np.ndarray) and any(stride < 0 for stride in frames.strides):
        frames = frames.copy()  # torch cannot view arrays with negative strides
    tensor = torch.as_tensor(frames)
    if tensor.dim() == 3:
        tensor = tensor.unsqueeze(0)
    check_frames_shape(tuple(tensor.shape))
    tensor = tensor.to(device).permute(0, 3, 1, 2)
    if tensor.dtype == torch.uint8:
        return tensor.to(dtype) / 255
    return tensor.to(dtype)


def tensor_to_frames(images: Tensor) -> np.ndarray:
    """(T, 3, H, W) float in [0, 1] -> (T, H, W, 3) float32 numpy."""
    return images.float().permute(0, 2, 3, 1).cpu().numpy()


class Animator(FrameAnimator):
    """Animates one source image by driving frames, batch by batch, with PyTorch.

    Args:
        model: a :class:`TPSMM` (its device and dtype are used).
        source: (H, W, 3) uint8 or float in [0, 1], at the model's frame size.
        mode: ``relative`` (motion relative to the first driving frame, scaled by the
            keypoint hull areas), ``standard`` (driving keypoints as they are) or ``avd``.
        background: place the background by the background predictor's matrices of
            (source, driving frame); the authors' animation does not (off). Needs the
            driving frames (not with :meth:`animate_keypoints`).
        motion_scale: the driving motion since the reference frame is multiplied by
            this (0 still, 1 as driven, above 1 exaggerated; see
            :func:`~tpsmm.animation.keypoints.scale_motion`), in every mode.

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
        with torch.inference_mode():
            self.state = model.prepare_source(frames_to_tensor(source, self.device, self.dtype))
        self.reset()

    def reset(self) -> None:
        """Forget the reference frame; the next batch starts a new driving video."""
        self.kp_driving_initial: Tensor | None = None
        self.scale: float | None = None

    def set_reference(self, frame: np.ndarray | Tensor) -> None:
        """Use ``frame`` (H, W, 3) as the reference (the first driving frame by default)."""
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
        them -> (B, 3, H, W) animated frames in [0, 1]; ``driving``: the (B, 3, H, W)
        frames they are of, which ``background`` needs."""
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
            return self.model.generate_from_source(self.state, kp, bg_param)

    def detect(self, frames: np.ndarray | Tensor) -> Tensor:
        """The keypoints (B, K*5, 2) of (B, H, W, 3) driving frames."""
        with torch.inference_mode():
            return self.model.keypoints(frames_to_tensor(frames, self.device, self.dtype))

    def animate_tensor(self, driving: Tensor, keypoints: Tensor | None = None) -> Tensor:
        """(B, 3, H, W) driving frames in [0, 1] -> (B, 3, H, W) animated frames;
        ``keypoints``: theirs when already known (:meth:`detect`)."""
        with torch.inference_mode():
            driving = driving.to(self.device, self.dtype)
            kp = self.model.keypoints(driving) if keypoints is None else keypoints
            return self.animate_keypoints(kp, driving)

    def animate(self, frames: np.ndarray | Tensor, keypoints: Tensor | None = None) -> np.ndarray:
        """(B, H, W, 3) uint8 driving frames -> (B, H, W, 3) float32 in [0, 1];
        ``keypoints`` (B, K*5, 2): the frames' detected keypoints when already known
        (:meth:`detect`)."""
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
) -> np.ndarray:
    """Animate a source image by a driving video held in memory.

    Args:
        model: a loaded :class:`TPSMM`, or another backend (e.g. the onnxruntime one,
            :func:`tpsmm.load_onnx`).
        source: (H, W, 3) uint8 at the model's frame size.
        driving: (T, H, W, 3) uint8 at the same size.
        mode: ``relative`` | ``standard`` | ``avd`` (as the authors' demo).
        batch_size: driving frames per forward pass.
        background: use the background predictor (see :class:`Animator`).

    Returns:
        (T, H, W, 3) float32 in [0, 1].
    """
    animator = as_backend(model).animator(source, mode, background=background)
    outputs = [
        animator.animate(driving[start : start + batch_size])
        for start in range(0, len(driving), batch_size)
    ]
    return np.concatenate(outputs) if outputs else np.zeros((0, *np.shape(source)), np.float32)
