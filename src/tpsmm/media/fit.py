"""Bringing frames of any shape to the model's square size.

Three modes (:data:`FIT_MODES`):

* ``"crop"`` (the default): cut the largest centred square, then resize it. Keeps the
  proportions of faces; loses the sides (landscape) or top and bottom (portrait).
* ``"pad"``: resize so the longer side fits, then centre on a black square (letterbox
  or pillarbox bars of value 0). Keeps everything and the proportions.
* ``"stretch"``: resize the whole frame to the square, ignoring the aspect ratio (what
  the authors' demo does); distorts non-square inputs.

Resizing uses Pillow's bicubic filter (:data:`RESAMPLE`). Pillow widens the filter
support by the scale factor when reducing, so downscaling is anti-aliased; the result is
deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from PIL import Image

from tpsmm.errors import ConfigError
from tpsmm.media._common import check_rgb_frame

FitMode = Literal["crop", "pad", "stretch"]
FIT_MODES: tuple[FitMode, ...] = ("crop", "pad", "stretch")
DEFAULT_FIT_MODE: FitMode = "crop"
RESAMPLE = Image.Resampling.BICUBIC
PAD_VALUE = 0  # black bars in "pad" mode


def check_fit_mode(mode: str) -> FitMode:
    """``mode`` if it is one of :data:`FIT_MODES`, else raise :class:`ConfigError`."""
    if mode not in FIT_MODES:
        raise ConfigError(f"unknown fit mode {mode!r}; choose one of {', '.join(FIT_MODES)}")
    return mode  # type: ignore[return-value]


@dataclass(frozen=True)
class FrameFitter:
    """Fits frames of one shape to ``size`` x ``size``; the geometry is computed once.

    ``frame_size`` is the (width, height) of the input frames.
    """

    frame_size: tuple[int, int]
    size: int
    mode: FitMode = DEFAULT_FIT_MODE
    # Source region (left, upper, right, lower) that is resized.
    box: tuple[int, int, int, int] = field(init=False)
    # Size (width, height) the region is resized to.
    resized: tuple[int, int] = field(init=False)
    # Where the resized region is placed on the output square (x, y).
    offset: tuple[int, int] = field(init=False)

    def __post_init__(self) -> None:
        width, height = self.frame_size
        if width < 1 or height < 1:
            raise ValueError(f"frame size must be positive, got {self.frame_size}")
        if self.size < 1:
            raise ValueError(f"output size must be positive, got {self.size}")
        check_fit_mode(self.mode)
        box, resized, offset = _geometry(width, height, self.size, self.mode)
        object.__setattr__(self, "box", box)
        object.__setattr__(self, "resized", resized)
        object.__setattr__(self, "offset", offset)

    @property
    def is_identity(self) -> bool:
        """Whether frames pass through unchanged (already ``size`` x ``size``)."""
        return self.frame_size == (self.size, self.size)

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """Fit one (H, W, 3) uint8 frame; returns a new (size, size, 3) uint8 array."""
        out = np.empty((self.size, self.size, 3), dtype=np.uint8)
        self._fit_into(frame, out)
        return out

    def fit_batch(self, frames: np.ndarray) -> np.ndarray:
        """Fit (T, H, W, 3) uint8 frames; returns a new (T, size, size, 3) uint8 array."""
        if frames.ndim != 4:
            raise ValueError(f"expected (T, H, W, 3) frames, got shape {frames.shape}")
        out = np.empty((len(frames), self.size, self.size, 3), dtype=np.uint8)
        for frame, target in zip(frames, out, strict=True):
            self._fit_into(frame, target)
        return out

    def _fit_into(self, frame: np.ndarray, out: np.ndarray) -> None:
        check_rgb_frame(frame)
        if frame.dtype != np.uint8:
            raise TypeError(f"expected uint8 pixels, got dtype {frame.dtype}")
        height, width = frame.shape[:2]
        if (width, height) != self.frame_size:
            raise ValueError(
                f"frame is {width}x{height} but this fitter was built for "
                f"{self.frame_size[0]}x{self.frame_size[1]}"
            )
        if self.is_identity:
            out[...] = frame
            return
        image = Image.fromarray(np.ascontiguousarray(frame))
        if self.box != (0, 0, width, height):
            # Crop first: resizing with ``box=`` would let the filter see pixels outside.
            image = image.crop(self.box)
        resized = np.asarray(image.resize(self.resized, RESAMPLE))
        if self.resized == (self.size, self.size):
            out[...] = resized
            return
        out.fill(PAD_VALUE)
        x, y = self.offset
        out[y : y + self.resized[1], x : x + self.resized[0]] = resized


def _geometry(
    width: int, height: int, size: int, mode: FitMode
) -> tuple[tuple[int, int, int, int], tuple[int, int], tuple[int, int]]:
    """(source box, resized (w, h), offset (x, y)) for one frame shape and mode."""
    if mode == "crop":
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        return (left, top, left + side, top + side), (size, size), (0, 0)
    if mode == "stretch":
        return (0, 0, width, height), (size, size), (0, 0)
    scale = size / max(width, height)
    new_width = min(size, max(1, round(width * scale)))
    new_height = min(size, max(1, round(height * scale)))
    offset = ((size - new_width) // 2, (size - new_height) // 2)
    return (0, 0, width, height), (new_width, new_height), offset


def resize_box(
    frame: np.ndarray, box: tuple[float, float, float, float], size: tuple[int, int]
) -> np.ndarray:
    """The part ``box`` (left, top, right, bottom; float pixels, corners of pixels at
    whole numbers) of an (H, W, 3) uint8 frame resized to ``size`` (width, height), with
    sub-pixel accuracy (:data:`RESAMPLE`, anti-aliased when reducing). Parts of the box
    outside the frame repeat the frame's edge pixels.

    Returns:
        (height, width, 3) uint8.
    """
    height, width = frame.shape[:2]
    left, top, right, bottom = box
    pad = math.ceil(max(0.0, -left, -top, right - width, bottom - height))
    if pad:
        frame = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
        left, top, right, bottom = left + pad, top + pad, right + pad, bottom + pad
    image = Image.fromarray(np.ascontiguousarray(frame))
    return np.array(image.resize(size, RESAMPLE, box=(left, top, right, bottom)))


def fit_frame(frame: np.ndarray, size: int, mode: FitMode = DEFAULT_FIT_MODE) -> np.ndarray:
    """Fit one (H, W, 3) uint8 frame to a new (size, size, 3) uint8 array.

    See the module docstring for the modes; for a stream of same-shaped frames build a
    :class:`FrameFitter` once instead.
    """
    check_rgb_frame(frame)
    height, width = frame.shape[:2]
    return FrameFitter((width, height), size, mode)(frame)


def fit_frames(frames: np.ndarray, size: int, mode: FitMode = DEFAULT_FIT_MODE) -> np.ndarray:
    """Fit (T, H, W, 3) uint8 frames to a new (T, size, size, 3) uint8 array."""
    if frames.ndim != 4 or frames.shape[3] != 3:
        raise ValueError(f"expected (T, H, W, 3) frames, got shape {frames.shape}")
    height, width = frames.shape[1:3]
    return FrameFitter((width, height), size, mode).fit_batch(frames)
