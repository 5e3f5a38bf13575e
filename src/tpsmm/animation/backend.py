"""The seam between the animation pipeline and what computes the frames.

The streaming pipeline (:mod:`tpsmm.animation.pipeline`), :func:`tpsmm.animate` and the
pairs job talk to an :class:`AnimationBackend`: it knows its square frame size, its
default batch size and where it runs, and makes a :class:`FrameAnimator` for a source
image, which animates driving frames batch by batch. Two backends implement it:

* PyTorch: a :class:`tpsmm.TPSMM` (wrapped by
  :func:`tpsmm.animation.animator.as_backend` in a
  :class:`~tpsmm.animation.animator.TorchBackend`; its animator is
  :class:`tpsmm.Animator`);
* onnxruntime: :class:`tpsmm.export.OnnxModel`, graphs written by ``tpsmm export``.

Everything else (decoding, fitting, face crops, paste-back, audio and timing, side by
side, best frame, pairs) is the same code for both. What needs driving keypoints rather
than frames (motion files, ``motion_scale``, keypoints shared between pairs) is the
PyTorch animator's alone (:attr:`FrameAnimator.takes_keypoints`): the exported frames
graphs take images.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import Tensor

from tpsmm.errors import TPSMMError


def keypoints_need_torch(what: str) -> TPSMMError:
    """The one-line error for a keypoint feature asked of a backend without it."""
    return TPSMMError(
        f"{what} needs the torch backend: the exported ONNX graphs take driving frames, "
        "not keypoints (leave out --backend onnxruntime/--onnx)"
    )


class FrameAnimator(ABC):
    """Animates one source image by driving frames, batch by batch.

    The first frame animated since :meth:`reset` is the reference (relative mode's, and
    that of ``motion_scale``) unless :meth:`set_reference` chose one.
    """

    #: Whether :meth:`detect`, :meth:`set_reference_keypoints` and
    #: :meth:`animate_keypoints` work (driving keypoints instead of frames).
    takes_keypoints: bool = False

    @abstractmethod
    def reset(self) -> None:
        """Forget the reference frame; the next batch starts a new driving video."""

    @abstractmethod
    def set_reference(self, frame: np.ndarray) -> None:
        """Use ``frame`` (H, W, 3) uint8 (or float in [0, 1]) as the reference instead
        of the first driving frame."""

    @abstractmethod
    def animate(self, frames: np.ndarray, keypoints: Tensor | None = None) -> np.ndarray:
        """(B, H, W, 3) uint8 (or float in [0, 1]) driving frames -> (B, H, W, 3) float32
        in [0, 1]; ``keypoints``: the frames' keypoints when already known (only where
        :attr:`takes_keypoints`)."""

    def detect(self, frames: np.ndarray) -> Tensor:
        """The keypoints (B, K*5, 2) of (B, H, W, 3) driving frames."""
        raise keypoints_need_torch("detecting driving keypoints")

    def set_reference_keypoints(self, kp: Tensor) -> None:
        """Use the frame with keypoints ``kp`` (1, K*5, 2) as the reference."""
        raise keypoints_need_torch("a motion file's reference")

    def animate_keypoints(self, kp_driving: Tensor) -> Tensor:
        """Driving keypoints (B, K*5, 2) -> (B, 3, H, W) animated frames in [0, 1]."""
        raise keypoints_need_torch("animating from keypoints (a motion file)")


@runtime_checkable
class AnimationBackend(Protocol):
    """What computes animated frames: the pipeline needs only these."""

    #: ``torch`` or ``onnxruntime``.
    backend_name: str

    @property
    def frame_size(self) -> int:
        """The square frame size S the model works at."""
        ...

    def default_batch_size(self) -> int:
        """Driving frames per pass when the user gives none."""
        ...

    def describe(self) -> str:
        """Where and in what it runs, for summary lines: ``float32 on cpu``."""
        ...

    def animator(
        self,
        source: np.ndarray,
        mode: str = "relative",
        *,
        background: bool = False,
        motion_scale: float = 1.0,
    ) -> FrameAnimator:
        """An animator of ``source`` (S, S, 3) uint8; ``background``: use the background
        predictor (the authors' animation does not); ``motion_scale``: see
        :func:`tpsmm.animation.keypoints.scale_motion`."""
        ...


def default_batch_size(device: torch.device | str) -> int:
    """Driving frames per forward pass when not told, for a device (a torch.device or
    its name): 1 on a CPU (measured fastest per frame on a 2-core machine: larger
    batches leave the caches), 8 on a GPU."""
    kind = device if isinstance(device, str) else device.type
    return 1 if kind.split(":", 1)[0] == "cpu" else 8
