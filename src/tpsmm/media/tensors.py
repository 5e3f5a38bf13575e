"""Frames between numpy's (T, H, W, 3) layout and torch's (T, 3, H, W) float images.

Kept apart from :mod:`tpsmm.media`'s other modules (which do not need torch): training,
evaluation, animation and export convert pixels here.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from tpsmm.errors import TPSMMError


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
