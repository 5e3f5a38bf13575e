"""Bounds on what one request of the web app may ask for, checked before any work.

Three bounds, each settable at start-up (``tpsmm serve --max-upload-mb``,
``--max-frames``, ``--max-image-pixels``):

- the size of each uploaded file (enforced by the web server while it receives the
  upload, and again here),
- the length of the driving video in frames (the container's count, else the packets of
  its video stream counted without decoding),
- the pixels of the source image (read from its header, before it is decoded).

Each check raises :class:`~tpsmm.errors.MediaError` with a message for the page that
names the file by its own name (not the server's temporary path).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from tpsmm.errors import MediaError
from tpsmm.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, VideoReader, load_image

#: Defaults of ``tpsmm serve`` (documented in the README and ``--help``).
DEFAULT_MAX_UPLOAD_MB = 50.0
DEFAULT_MAX_FRAMES = 1000
DEFAULT_MAX_IMAGE_PIXELS = 40_000_000

#: Defaults of ``tpsmm serve --live-sessions`` and ``--live-idle`` (the Live tab).
DEFAULT_LIVE_SESSIONS = 4
DEFAULT_LIVE_IDLE_SECONDS = 60.0

#: Megabytes as the page counts them (2**20 bytes).
MEGABYTE = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one request may ask for.

    Attributes:
        max_upload_bytes: the largest uploaded file, in bytes.
        max_frames: the longest driving video, in frames.
        max_image_pixels: the largest source image, width x height.
    """

    max_upload_bytes: int = int(DEFAULT_MAX_UPLOAD_MB * MEGABYTE)
    max_frames: int = DEFAULT_MAX_FRAMES
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_frames", "max_image_pixels"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive whole number, got {value!r}")

    @classmethod
    def from_options(
        cls,
        max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB,
        max_frames: int = DEFAULT_MAX_FRAMES,
        max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
    ) -> Limits:
        """Limits from the command line's units (megabytes of 2**20 bytes)."""
        return cls(round(max_upload_mb * MEGABYTE), max_frames, max_image_pixels)

    def describe(self) -> str:
        """One line for the page and the start-up message."""
        return (
            f"uploads up to {format_megabytes(self.max_upload_bytes)}, videos up to "
            f"{self.max_frames} frames, images up to {format_pixels(self.max_image_pixels)}"
        )


@dataclass(frozen=True)
class LiveLimits:
    """Bounds of the Live tab: browsers animated at once, and the seconds a session may
    stay without a message before the server closes it."""

    max_sessions: int = DEFAULT_LIVE_SESSIONS
    idle_seconds: float = DEFAULT_LIVE_IDLE_SECONDS

    def describe(self) -> str:
        """One line for the start-up message."""
        if self.max_sessions == 0:
            return "live: off"
        return (
            f"live: up to {self.max_sessions} sessions, each closed after "
            f"{self.idle_seconds:g} s without frames"
        )


def format_megabytes(size: int) -> str:
    """``52428800`` -> ``"50 MB"``."""
    return f"{size / MEGABYTE:.3g} MB"


def format_pixels(pixels: int) -> str:
    """``40000000`` -> ``"40 megapixels"``."""
    return f"{pixels / 1e6:.3g} megapixels"


def check_upload_size(path: Path, limits: Limits, name: str) -> None:
    """Raise MediaError when the file at ``path`` is larger than the upload bound."""
    size = path.stat().st_size
    if size > limits.max_upload_bytes:
        raise MediaError(
            f"{name}: the file is {format_megabytes(size)}; this server takes uploads up "
            f"to {format_megabytes(limits.max_upload_bytes)}"
        )


def check_source_image(path: Path, limits: Limits, name: str) -> np.ndarray:
    """The upload is a still image within the pixel bound (its header read first, so
    a huge image is refused before it is decoded); returns it decoded, (H, W, 3) uint8.

    Raises:
        MediaError: too large a file, too many pixels, a video or a file that is not an
            image that can be read.
    """
    check_upload_size(path, limits, name)
    if path.suffix.lower() in VIDEO_SUFFIXES:
        raise MediaError(f"{name}: is a video; give a still image as the source")
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        width = height = None
    except Image.DecompressionBombError:
        width, height = limits.max_image_pixels + 1, 1
    if width is not None and height is not None and width * height > limits.max_image_pixels:
        raise MediaError(
            f"{name}: the image is {width}x{height} ({format_pixels(width * height)}); "
            f"this server takes images up to {format_pixels(limits.max_image_pixels)}"
        )
    return load_image(path)


def video_frame_count(reader: VideoReader) -> int:
    """Frames in the video of ``reader``: the container's count when it states one, else
    the packets of its video stream, counted without decoding them."""
    if reader.num_frames is not None:
        return reader.num_frames
    if reader.is_folder:
        raise MediaError(f"{reader.path}: a folder of frames cannot be uploaded")
    with av.open(str(reader.path)) as container:
        stream = container.streams.video[0]
        return sum(1 for packet in container.demux(stream) if packet.size)


def check_driving_video(path: Path, limits: Limits, name: str) -> int:
    """The upload is a video whose first frame decodes, within the size and frame
    bounds; returns its number of frames.

    Raises:
        MediaError: too large, too long, an image, or not a video that can be read.
    """
    check_upload_size(path, limits, name)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        raise MediaError(f"{name}: is an image; give a video as the driving video")
    with VideoReader(path, check=True) as reader:
        frames = video_frame_count(reader)
    if frames > limits.max_frames:
        raise MediaError(
            f"{name}: the video has {frames} frames; this server animates videos up to "
            f"{limits.max_frames} frames"
        )
    return frames
