"""Streaming video input: video files FFmpeg reads and folders of frame images.

Frames are (H, W, 3) uint8 RGB arrays, decoded one at a time. :class:`VideoWriter` (from
:mod:`tpsmm.media.writer`) is re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from itertools import islice
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from tpsmm.media._common import (
    DEFAULT_FOLDER_FPS,
    GIF_SUFFIX,
    IMAGE_SUFFIXES,
    PathLike,
    describe_error,
    media_error,
    natural_sort_key,
    to_frame_rate,
)
from tpsmm.media.image import load_image
from tpsmm.media.probe import is_cover_art, is_image_demuxer, pillow_frame_count
from tpsmm.media.writer import VideoWriter

__all__ = ["VideoReader", "VideoWriter", "list_frame_files", "read_video"]

# Frame rate assumed when a video file states none.
FALLBACK_FPS: Fraction = Fraction(25)


class VideoReader:
    """Frames of a video file, or of a folder of images, as (H, W, 3) uint8 RGB arrays.

    ``path`` is any file FFmpeg reads with a video stream (mp4, mov, avi, mkv, webm,
    animated gif, ...) or a folder of frame images (PNG, JPEG, ...), taken in natural
    name order (``frame2`` before ``frame10``); hidden files and other files are skipped.

    ``fps`` is the frame rate of a folder of frames (default 25); a video file reports
    its own rate and ignores it. With ``autorotate`` (default) frames of a file whose
    display matrix says "rotate" (phone videos) are turned upright by multiples of 90
    degrees. ``check=True`` decodes the first frame at once (see :meth:`check`).

    Iterating decodes frames one at a time (constant memory); iterating again starts
    over from the first frame. Use as a context manager, or call :meth:`close`.

    Raises :class:`~tpsmm.errors.MediaError` (naming the file) for a missing path, an
    image given instead of a video, a file without a video stream, unreadable or corrupt
    data, and a video without any decodable frame (found when iteration yields nothing).
    """

    def __init__(
        self,
        path: PathLike,
        *,
        fps: float | Fraction | None = None,
        autorotate: bool = True,
        check: bool = False,
    ) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            self._source: _FolderSource | _ContainerSource = _FolderSource(
                self.path, to_frame_rate(fps) if fps is not None else DEFAULT_FOLDER_FPS
            )
        else:
            self._source = _ContainerSource(self.path, autorotate)
        self._first: np.ndarray | None = None
        self._pending: Iterator[np.ndarray] | None = None
        if check:
            try:
                self.check()
            except BaseException:
                self.close()
                raise

    # Metadata --------------------------------------------------------------------------

    @property
    def frame_rate(self) -> Fraction:
        """The exact frame rate (frames per second), e.g. ``Fraction(30000, 1001)``."""
        return self._source.frame_rate

    @property
    def fps(self) -> float:
        """The frame rate as a float."""
        return float(self._source.frame_rate)

    @property
    def num_frames(self) -> int | None:
        """The number of frames the container states, or None when it does not."""
        return self._source.num_frames

    @property
    def has_audio(self) -> bool:
        """Whether the file has an audio stream (always False for a folder)."""
        return self._source.has_audio

    @property
    def is_folder(self) -> bool:
        """Whether the frames come from a folder of images."""
        return isinstance(self._source, _FolderSource)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the frames as yielded (after autorotation).

        For a video file this decodes the first frame if none has been decoded yet.
        """
        if self._first is None:
            self.check()
        assert self._first is not None
        return int(self._first.shape[1]), int(self._first.shape[0])

    # Reading ---------------------------------------------------------------------------

    def check(self) -> np.ndarray:
        """Decode the first frame now and return it, (H, W, 3) uint8.

        Raises :class:`~tpsmm.errors.MediaError` if the video has no decodable frame, so a
        command can fail before it creates any output. The next iteration yields this
        frame first without decoding it again.
        """
        if self._first is None:
            frames = self._source.frames()
            first = next(frames, None)
            if first is None:
                raise self._no_frames_error()
            self._first, self._pending = first, frames
        return self._first

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield every frame, (H, W, 3) uint8 RGB, one at a time, from the first."""
        return self._iterate()

    def _iterate(self) -> Iterator[np.ndarray]:
        count = 0
        if self._pending is not None:
            frames, self._pending = self._pending, None
            assert self._first is not None
            count += 1
            yield self._first
        else:
            frames = self._source.frames()
        for frame in frames:
            if count == 0 and self._first is None:
                self._first = frame
            count += 1
            yield frame
        if count == 0:
            raise self._no_frames_error()

    def read_batches(self, batch_size: int, max_frames: int | None = None) -> Iterator[np.ndarray]:
        """Yield (B, H, W, 3) uint8 batches of ``batch_size`` frames (the last may be
        shorter), at most ``max_frames`` frames in all."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        frames = iter(self) if max_frames is None else islice(self, max_frames)
        while batch := list(islice(frames, batch_size)):
            yield np.stack(batch)

    def _no_frames_error(self) -> Exception:
        return media_error(self.path, "has no decodable video frames")

    # Lifetime --------------------------------------------------------------------------

    def close(self) -> None:
        """Close the underlying container; the reader cannot be used afterwards."""
        self._pending = None
        self._source.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"VideoReader({str(self.path)!r}, fps={self.fps:g}, num_frames={self.num_frames})"


def read_video(path: PathLike, max_frames: int | None = None) -> np.ndarray:
    """All frames of a video (or folder of frames), at most ``max_frames``, in memory.

    Returns a (T, H, W, 3) uint8 RGB array. Prefer :class:`VideoReader` for long videos.
    """
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    with VideoReader(path) as reader:
        return np.stack(list(islice(reader, max_frames)))


def list_frame_files(folder: PathLike) -> list[Path]:
    """The image files of a folder in natural name order; hidden files are skipped."""
    folder = Path(folder)
    files = [
        entry
        for entry in folder.iterdir()
        if entry.suffix.lower() in IMAGE_SUFFIXES
        and not entry.name.startswith(".")
        and entry.is_file()
    ]
    return sorted(files, key=lambda entry: (natural_sort_key(entry.name), entry.name))


class _FolderSource:
    """Frames from the image files of a folder."""

    has_audio = False

    def __init__(self, folder: Path, frame_rate: Fraction) -> None:
        self.folder = folder
        self.frame_rate = frame_rate
        self.files = list_frame_files(folder)
        if not self.files:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise media_error(folder, f"folder holds no frame images ({suffixes})")
        self.num_frames: int | None = len(self.files)

    def frames(self) -> Iterator[np.ndarray]:
        first_shape: tuple[int, ...] | None = None
        for file in self.files:
            frame = load_image(file)
            if first_shape is None:
                first_shape = frame.shape
            elif frame.shape != first_shape:
                raise media_error(
                    file,
                    f"frame is {frame.shape[1]}x{frame.shape[0]} but the first frame "
                    f"of the folder is {first_shape[1]}x{first_shape[0]}",
                )
            yield frame

    def close(self) -> None:
        pass


class _ContainerSource:
    """Frames decoded by FFmpeg from one video stream of a container file."""

    def __init__(self, path: Path, autorotate: bool) -> None:
        self.path = path
        self.autorotate = autorotate
        _reject_non_video_path(path)
        self._container = self._open()
        self._used = False
        stream = self._video_stream(self._container)
        self.frame_rate = _stream_frame_rate(stream)
        self.num_frames = int(stream.frames) if stream.frames and stream.frames > 0 else None
        self.has_audio = len(self._container.streams.audio) > 0

    def _open(self) -> av.container.InputContainer:
        try:
            container = av.open(str(self.path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
            if pillow_frame_count(self.path) == 1:
                raise media_error(self.path, "is an image, not a video") from None
            reason = describe_error(error)
            raise media_error(self.path, f"cannot be read as a video ({reason})") from None
        if is_image_demuxer(container.format.name):
            container.close()
            raise media_error(self.path, "is an image, not a video")
        return container

    def _video_stream(self, container: av.container.InputContainer) -> av.video.VideoStream:
        for stream in container.streams.video:
            if not is_cover_art(stream):
                return stream
        container.close()
        what = "audio only" if container.streams.audio else "no streams FFmpeg can use"
        raise media_error(self.path, f"has no video stream ({what})")

    def frames(self) -> Iterator[np.ndarray]:
        """A fresh generator of frames from the start (reopens the file after the first)."""
        if self._used:
            self._container.close()
            self._container = self._open()
        self._used = True
        return self._decode(self._container)

    def _decode(self, container: av.container.InputContainer) -> Iterator[np.ndarray]:
        stream = self._video_stream(container)
        stream.thread_type = "AUTO"
        # One converter for the whole stream: its conversion context is built once
        # instead of per frame (about 3x faster than frame.to_ndarray(format=...)).
        to_rgb = VideoReformatter()
        turns: int | None = None
        count = 0
        try:
            for frame in container.decode(stream):
                if turns is None:
                    turns = _quarter_turns(frame.rotation) if self.autorotate else 0
                array = to_rgb.reformat(frame, format="rgb24").to_ndarray()
                if turns:
                    array = np.ascontiguousarray(np.rot90(array, turns))
                count += 1
                yield array
        except (av.error.FFmpegError, OSError) as error:
            problem = f"corrupt video data after {count} frames ({describe_error(error)})"
            raise media_error(self.path, problem) from None

    def close(self) -> None:
        self._container.close()


def _reject_non_video_path(path: Path) -> None:
    """Raise MediaError for a missing path or a file whose suffix names a still image."""
    if not path.exists():
        raise media_error(path, "no such file or directory")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES or (suffix == GIF_SUFFIX and pillow_frame_count(path) == 1):
        raise media_error(path, "is an image, not a video")


def _stream_frame_rate(stream: av.video.VideoStream) -> Fraction:
    """The stream's average frame rate, else its guessed or base rate, else 25."""
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate > 0:
            return Fraction(rate)
    return FALLBACK_FPS


def _quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns (0..3) for numpy.rot90 that make a frame with
    this display rotation (degrees counter-clockwise) upright."""
    return round(rotation / 90) % 4
