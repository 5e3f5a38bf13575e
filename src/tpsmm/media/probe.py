"""Telling images, videos and folders of frames apart, by suffix and by content."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import av
from PIL import Image, UnidentifiedImageError

from tpsmm.media._common import VIDEO_SUFFIXES, PathLike, media_error

MediaKind = Literal["image", "video", "folder"]


def probe(path: PathLike) -> MediaKind:
    """What ``path`` holds: ``"image"`` (a still image Pillow reads), ``"video"`` (a file
    with a video stream FFmpeg reads, animated GIFs included) or ``"folder"`` (a directory,
    read as a sequence of frame images).

    Raises :class:`~tpsmm.errors.MediaError` when the path is missing or is neither.
    """
    path = Path(path)
    if path.is_dir():
        return "folder"
    if not path.exists():
        raise media_error(path, "no such file or directory")
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    frames = pillow_frame_count(path)
    if frames is not None:
        return "video" if frames > 1 else "image"
    if ffmpeg_sees_video(path):
        return "video"
    raise media_error(path, "is neither an image nor a video that can be read")


def pillow_frame_count(path: Path) -> int | None:
    """How many frames Pillow finds in ``path`` (1 for a still image), or None when
    Pillow does not recognise the file as an image."""
    try:
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1))
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None


def is_image_demuxer(format_name: str) -> bool:
    """Whether an FFmpeg demuxer name denotes a single still image (``png_pipe``, ...)."""
    names = format_name.split(",")
    return any(name.endswith("_pipe") or name == "image2" for name in names)


def ffmpeg_sees_video(path: Path) -> bool:
    """Whether FFmpeg opens ``path`` as a container with a (non-cover-art) video stream
    that is not a single still image."""
    try:
        with av.open(str(path)) as container:
            if is_image_demuxer(container.format.name):
                return False
            return any(not is_cover_art(stream) for stream in container.streams.video)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError):
        return False


def is_cover_art(stream: av.video.stream.VideoStream) -> bool:
    """Whether a video stream is an attached picture (album art in an audio file)."""
    return bool(stream.disposition & av.stream.Disposition.attached_pic)
