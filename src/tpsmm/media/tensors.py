"""Frames between numpy's (T, H, W, 3) layout and torch's (T, 3, H, W) float images,
and the checks of frames handed to the Python API (:func:`check_frames`).

Frames are RGB, ``uint8`` (0-255) or floating point in [0, 1], as numpy arrays or torch
tensors. Kept apart from :mod:`tpsmm.media`'s other modules (which do not need torch):
training, evaluation, animation and export convert pixels here.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor

from tpsmm.errors import TPSMMError


def check_frames_shape(shape: tuple[int, ...]) -> None:
    """Raise :class:`TPSMMError` unless ``shape`` is that of (T, H, W, 3) frames."""
    if len(shape) != 4 or shape[-1] != 3:
        raise TPSMMError(f"frames must be (T, H, W, 3), got shape {tuple(shape)}")


#: How far float frames may stray outside [0, 1] (rounding of a resize or a blend).
FLOAT_SLACK = 1e-3


def check_frames(
    frames: object, name: str, *, size: int | None = None, single: bool = False
) -> np.ndarray | Tensor:
    """``frames`` if they are frames the model can take, else a one-line error.

    Args:
        frames: (T, H, W, 3) frames (``single``: one (H, W, 3) frame), a numpy array
            or a torch tensor, ``uint8`` (0-255) or floating point in [0, 1].
        name: how the message names them (``"driving"``, ``"source"``).
        size: the model's frame size S: frames must be S x S.
        single: one frame, (H, W, 3) (a batch of one, (1, H, W, 3), is taken too).

    Raises:
        TPSMMError: None, a path, another type, shape, size or dtype, no frames, or
            float values outside [0, 1] (e.g. 0-255 as floats) or not finite.
    """
    if frames is None:
        raise TPSMMError(f"{name} is None; give {_expected(single)}")
    if isinstance(frames, str | bytes | os.PathLike):
        raise TPSMMError(
            f"{name} is a path ({os.fsdecode(frames)!r}), not frames; read it first "
            "(tpsmm.media.load_image, tpsmm.media.read_video), or give the files to "
            "tpsmm.animate_video"
        )
    if not isinstance(frames, np.ndarray | Tensor):
        raise TPSMMError(
            f"{name} must be a numpy array or a torch tensor, got {type(frames).__name__}"
        )
    shape = tuple(frames.shape)
    wanted = 3 if single else 4
    if single and len(shape) == 4 and shape[0] == 1:
        wanted = 4
    if len(shape) != wanted or shape[-1] != 3:
        hint = ""
        if not single and len(shape) == 3 and shape[-1] == 3:
            hint = " (one frame: give frame[None])"
        raise TPSMMError(f"{name} must be {_expected(single)}, got shape {shape}{hint}")
    if not single and shape[0] == 0:
        raise TPSMMError(f"{name} has no frames (shape {shape})")
    if size is not None and shape[-3:-1] != (size, size):
        what, fit = ("is", "fit_frame(image") if single else ("frames are", "fit_frames(frames")
        raise TPSMMError(
            f"{name} {what} {shape[-2]}x{shape[-3]} but the model takes {size}x{size}; "
            f"fit first (tpsmm.media.{fit}, {size})), or use tpsmm.animate_video, which fits"
        )
    dtype = str(frames.dtype).removeprefix("torch.")
    if dtype == "uint8":
        return frames
    if not (
        frames.is_floating_point() if isinstance(frames, Tensor) else dtype.startswith("float")
    ):
        raise TPSMMError(f"{name} must be uint8 (0-255) or float in [0, 1], got {dtype}")
    values = frames.detach().float() if isinstance(frames, Tensor) else frames
    low, high = float(values.min()), float(values.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise TPSMMError(f"{name} holds values that are not finite numbers")
    if low < -FLOAT_SLACK or high > 1 + FLOAT_SLACK:
        raise TPSMMError(
            f"{name} is {dtype} from {low:g} to {high:g}; float frames must be in [0, 1] "
            "(divide 0-255 values by 255, or give uint8)"
        )
    return frames


def check_batch(frames: object, name: str, size: int | None = None) -> np.ndarray | Tensor:
    """:func:`check_frames` of a batch of frames for a streaming animator: (B, H, W, 3),
    or one (H, W, 3) frame (a batch of one)."""
    return check_frames(frames, name, size=size, single=getattr(frames, "ndim", 0) == 3)


def _expected(single: bool) -> str:
    what = "one (H, W, 3) frame" if single else "(T, H, W, 3) frames"
    return f"{what}, uint8 (0-255) or float in [0, 1]"


def frames_to_tensor(
    frames: np.ndarray | Tensor, device: torch.device | str = "cpu", dtype=torch.float32
) -> Tensor:
    """(T, H, W, 3) uint8 (or float in [0, 1]) frames -> (T, 3, H, W) float in [0, 1]."""
    if isinstance(frames, np.ndarray) and (
        any(stride < 0 for stride in frames.strides) or not frames.flags.writeable
    ):
        # torch cannot view arrays with negative strides, and warns about read-only
        # ones (PyAV's frames, np.broadcast_to)
        frames = frames.copy()
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
