"""The seam between the animation pipeline and what computes the frames.

The streaming pipeline (:mod:`tpsmm.animation.pipeline`), :func:`tpsmm.animate` and the
pairs job talk to an :class:`AnimationBackend`: it knows its square frame size and its
default batch size, and makes a :class:`FrameAnimator` for a source image, which
animates driving frames batch by batch. Two backends implement it:

* PyTorch: a :class:`tpsmm.TPSMM` (wrapped by :func:`as_backend` in a
  :class:`TorchBackend`; its animator is :class:`tpsmm.Animator`);
* onnxruntime: :class:`tpsmm.export.OnnxModel`, graphs written by ``tpsmm export``.

Everything else (decoding, fitting, audio, side by side, best frame, pairs) is the same
code for both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tpsmm.animation.keypoints import check_mode


def default_batch_size(device: Any) -> int:
    """Driving frames per forward pass when not told, for a device (a torch.device or
    its type name): 1 on a CPU (measured fastest per frame on a 2-core machine: larger
    batches leave the caches), 8 on a GPU."""
    kind = device if isinstance(device, str) else device.type
    return 1 if kind.split(":", 1)[0] == "cpu" else 8


class FrameAnimator(ABC):
    """Animates one source image by driving frames, batch by batch.

    The first frame animated since :meth:`reset` is relative mode's reference unless
    :meth:`set_reference` chose one; standard and avd modes have no reference.
    Subclasses compute the reference (:meth:`_reference`) and the frames
    (:meth:`_animate`).
    """

    def __init__(self, mode: str):
        self.mode = check_mode(mode)
        self.reference: Any = None

    def reset(self) -> None:
        """Forget the reference frame; the next batch starts a new driving video."""
        self.reference = None

    def set_reference(self, frame: np.ndarray) -> None:
        """Use ``frame`` (H, W, 3) uint8 (or float in [0, 1]) as relative mode's reference
        instead of the first driving frame."""
        self.reference = self._reference(np.asarray(frame)[None])

    def animate(self, frames: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) uint8 (or float in [0, 1]) driving frames -> (B, H, W, 3) float32
        in [0, 1]."""
        frames = np.asarray(frames)
        if frames.ndim == 3:
            frames = frames[None]
        if self.mode == "relative" and self.reference is None:
            self.reference = self._reference(frames[:1])
        return self._animate(frames)

    @abstractmethod
    def _reference(self, frame: np.ndarray) -> Any:
        """Relative mode's reference (whatever :meth:`_animate` needs) from a (1, H, W, 3)
        frame."""

    @abstractmethod
    def _animate(self, frames: np.ndarray) -> np.ndarray:
        """(B, H, W, 3) frames -> (B, H, W, 3) float32 in [0, 1], with ``self.reference``."""


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

    def animator(
        self, source: np.ndarray, mode: str = "relative", *, background: bool = False
    ) -> FrameAnimator:
        """An animator of ``source`` (S, S, 3) uint8; ``background``: use the background
        predictor (the authors' animation does not)."""
        ...


class TorchBackend:
    """A :class:`tpsmm.TPSMM` as an :class:`AnimationBackend` (its device and dtype)."""

    backend_name = "torch"

    def __init__(self, model: Any):
        self.model = model

    @property
    def frame_size(self) -> int:
        return self.model.frame_size

    def default_batch_size(self) -> int:
        return default_batch_size(next(self.model.parameters()).device)

    def animator(
        self, source: np.ndarray, mode: str = "relative", *, background: bool = False
    ) -> FrameAnimator:
        from tpsmm.animation.animator import Animator

        return Animator(self.model, source, mode, background=background)


def as_backend(model: Any) -> AnimationBackend:
    """``model`` as an :class:`AnimationBackend`: a :class:`tpsmm.TPSMM` is wrapped in a
    :class:`TorchBackend`, a backend is returned as it is.

    Raises:
        TypeError: anything else.
    """
    if isinstance(model, AnimationBackend):
        return model
    from tpsmm.model import TPSMM

    if isinstance(model, TPSMM):
        return TorchBackend(model)
    raise TypeError(
        f"expected a tpsmm.TPSMM or an animation backend (tpsmm.export.OnnxModel), "
        f"got {type(model).__name__}"
    )
