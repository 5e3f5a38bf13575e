"""Helpers shared by the media modules: file kinds by suffix, error messages, conversions."""

from __future__ import annotations

import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np

from tpsmm.errors import MediaError

# The one list of file suffixes, shared by reading (images, videos), writing (the
# writer's video formats are a subset of VIDEO_SUFFIXES) and datasets (video files and
# strip images).
#
# Still-image suffixes. GIF is absent on purpose: it may be a still image or an animation.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {
        ".png",
        ".jpg",
        ".jpeg",
        ".jpe",
        ".jfif",
        ".bmp",
        ".dib",
        ".webp",
        ".tif",
        ".tiff",
        ".ppm",
        ".pgm",
        ".pbm",
        ".pnm",
        ".tga",
    }
)

# Suffixes that always name a video (or animation) container.
VIDEO_SUFFIXES: frozenset[str] = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".qt",
        ".avi",
        ".mkv",
        ".webm",
        ".flv",
        ".wmv",
        ".asf",
        ".mpg",
        ".mpeg",
        ".m2v",
        ".ts",
        ".mts",
        ".m2ts",
        ".3gp",
        ".3g2",
        ".ogv",
        ".mxf",
        ".y4m",
    }
)

GIF_SUFFIX = ".gif"

# Frame rate used for a folder of frames, which carries no rate of its own.
DEFAULT_FOLDER_FPS: Fraction = Fraction(25)

PathLike = str | Path


def media_error(path: PathLike, problem: str) -> MediaError:
    """A :class:`MediaError` whose one-line message is ``"{path}: {problem}"``."""
    text = f"{path}: {problem}"
    return MediaError(" ".join(text.split()))


def describe_error(error: BaseException) -> str:
    """A short one-line reason for an FFmpeg, Pillow or OS error, without the file name."""
    reason = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(reason).split())


def natural_sort_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """A sort key that orders embedded numbers by value: ``frame2`` before ``frame10``."""
    parts = re.split(r"(\d+)", name.casefold())
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in parts if part)


def to_uint8(frame: np.ndarray) -> np.ndarray:
    """An image as C-contiguous uint8.

    ``frame`` is uint8 (returned as is when contiguous) or floating point in [0, 1]
    (values outside are clipped, then scaled by 255 and rounded). Any shape is kept.
    """
    if frame.dtype == np.uint8:
        return np.ascontiguousarray(frame)
    if not np.issubdtype(frame.dtype, np.floating):
        raise TypeError(f"expected uint8 or float pixels in [0, 1], got dtype {frame.dtype}")
    scaled = np.clip(frame, 0.0, 1.0) * 255.0 + 0.5
    return scaled.astype(np.uint8)


def check_rgb_frame(frame: np.ndarray) -> None:
    """Raise ``ValueError`` unless ``frame`` is an (H, W, 3) array with H, W >= 1."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"expected a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {frame.shape}")


def to_frame_rate(fps: float | int | Fraction) -> Fraction:
    """A frame rate as an exact positive fraction.

    Fractions and integers are kept exactly. A float is matched to the nearest integer
    rate or NTSC rate (``n * 1000/1001``, e.g. 29.97 -> 30000/1001) when within 1e-4,
    otherwise to the nearest fraction with a denominator of at most 1001.
    """
    if isinstance(fps, Fraction):
        rate = fps
    elif isinstance(fps, int | np.integer):
        rate = Fraction(int(fps))
    else:
        value = float(fps)
        if not math.isfinite(value):
            raise ValueError(f"frame rate must be a positive number, got {fps!r}")
        rate = _float_to_rate(value)
    if rate <= 0:
        raise ValueError(f"frame rate must be a positive number, got {fps!r}")
    return rate


def _float_to_rate(value: float) -> Fraction:
    for denominator in (1, 1001):
        numerator = round(value * denominator)
        if numerator > 0 and abs(numerator / denominator - value) < 1e-4:
            return Fraction(numerator, denominator)
    return Fraction(value).limit_denominator(1001)
