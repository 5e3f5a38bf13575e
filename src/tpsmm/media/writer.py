"""Streaming, atomic output: H.264 video (with the driving video's audio), GIF, PNG frames.

The output type follows the path: ``.mp4``, ``.mov``, ``.m4v`` and ``.mkv`` give H.264
video (libx264, yuv420p); ``.gif`` an animated GIF; a path without a suffix, ending in a
path separator, or naming an existing folder gives a folder of ``000000.png``,
``000001.png``, ... Everything is written under a temporary name in the destination's
folder and renamed onto the final path only by a successful :meth:`VideoWriter.close`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import av
import numpy as np

from tpsmm import signals
from tpsmm.files import check_writable_folder, partial_path
from tpsmm.media._common import (
    GIF_SUFFIX,
    PathLike,
    check_rgb_frame,
    describe_error,
    media_error,
    to_frame_rate,
    to_uint8,
)
from tpsmm.media.audio import AudioSource
from tpsmm.media.sinks import (
    EncodedVideoSink,
    GifSink,
    PngFolderSink,
    Sink,
    holds_only_frames,
)

if TYPE_CHECKING:
    from tpsmm.media.video import VideoReader

OutputKind = Literal["video", "gif", "frames"]

# Container format by suffix for H.264 outputs.
VIDEO_FORMATS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


class VideoWriter:
    """Writes frames to a video, GIF or folder of PNGs, streaming and atomically.

    Timing: :meth:`write` takes each frame's time in seconds since the first frame
    (pass the driving video's, from :meth:`VideoReader.timed_frames`), so a
    variable-frame-rate video keeps its timing and its length; a frame without a time
    comes ``1 / fps`` after the previous one. ``fps`` is kept exactly as the output's
    stated rate (pass ``reader.frame_rate``, e.g. ``Fraction(30000, 1001)``; floats such
    as 29.97 are matched to NTSC rates). ``time_base`` is the unit in seconds that
    video timestamps are stored in (default ``1 / fps``; pass ``reader.time_base`` so
    that the driving video's times are kept exactly; Matroska stores milliseconds, GIF
    hundredths of a second, whatever is asked). A frame whose time would not come at
    least one unit after the previous frame's is moved to one unit after it. Pass
    ``variable_rate=reader.variable_rate``: MP4 and MOV outputs of a variable rate are
    written without B-frames (which would make their stated length disagree with the
    frames' times).

    ``audio_from`` names a media file whose first audio stream is carried into a video
    output (copied when the container takes its codec, e.g. AAC into MP4, else
    transcoded to AAC), trimmed to the video's duration, and aligned so that
    ``start_time`` (seconds in that file's clock; default: the start of its first video
    stream, pass ``reader.start_time``) falls on the output's first frame. A file
    without audio adds none; GIF and PNG outputs ignore it. ``size`` is the (width,
    height) of the frames; by default the first frame's. ``crf`` and ``preset`` tune
    libx264 (lower crf is better quality; 18 is visually lossless).

    :meth:`write` takes (H, W, 3) uint8 or float [0, 1] frames. H.264 needs even
    dimensions: an odd width or height is padded by repeating the last column or row.

    Use as a context manager: on a clean exit the output is renamed into place; on an
    exception (or :meth:`abort`) the temporary output is removed and nothing is left.

    Raises :class:`~tpsmm.errors.MediaError` for an unsupported suffix, a missing folder,
    an output folder holding other files, an unreadable ``audio_from``, or a failed write.
    """

    def __init__(
        self,
        path: PathLike,
        fps: float | Fraction,
        *,
        audio_from: PathLike | None = None,
        start_time: float | Fraction | None = None,
        time_base: Fraction | None = None,
        variable_rate: bool = False,
        size: tuple[int, int] | None = None,
        crf: int = 18,
        preset: str = "medium",
    ) -> None:
        self.kind: OutputKind = output_kind(path)
        self.path = Path(path)
        self.frame_rate = to_frame_rate(fps)
        self.time_base = Fraction(time_base) if time_base is not None else 1 / self.frame_rate
        if self.time_base <= 0:
            raise ValueError(f"time_base must be positive, got {time_base!r}")
        self.size: tuple[int, int] | None = None
        self.frames_written = 0
        self.timing = FrameTiming(self.time_base, self.frame_rate)
        self._closed = False
        _check_destination(self.path, self.kind)
        self._sink = self._make_sink(audio_from, start_time, variable_rate, crf, preset)
        try:
            if size is not None:
                self._start(size)
        except BaseException:
            self.abort()
            raise

    @classmethod
    def following(
        cls, path: PathLike, reader: VideoReader, *, audio: bool = True, **options: Any
    ) -> VideoWriter:
        """A writer for frames made from ``reader``'s, one for one: its frame rate, time
        base and start (so :meth:`write` with the reader's times keeps them exactly), its
        variable-rate switch, and its audio when ``audio`` and it has any. ``options``:
        ``size``, ``crf``, ``preset``."""
        return cls(
            path,
            reader.frame_rate,
            audio_from=reader.path if audio and reader.has_audio else None,
            start_time=reader.start_time,
            time_base=reader.time_base,
            variable_rate=reader.variable_rate,
            **options,
        )

    @property
    def fps(self) -> float:
        """The frame rate as a float."""
        return float(self.frame_rate)

    @property
    def has_audio(self) -> bool:
        """Whether the output will carry audio from ``audio_from``."""
        return isinstance(self._sink, EncodedVideoSink) and self._sink.audio is not None

    @property
    def temporary_path(self) -> Path:
        """Where the output is written until :meth:`close` renames it to :attr:`path`."""
        return self._sink.temporary

    def _make_sink(
        self,
        audio_from: PathLike | None,
        start_time: float | Fraction | None,
        variable_rate: bool,
        crf: int,
        preset: str,
    ) -> Sink:
        temporary = partial_path(os.path.abspath(self.path), folder=self.kind == "frames")
        if self.kind == "frames":
            return PngFolderSink(temporary)
        if self.kind == "gif":
            return GifSink(temporary)
        audio = None
        if audio_from is not None:
            audio = AudioSource.open(Path(audio_from), start_time)
        container_format = VIDEO_FORMATS[self.path.suffix.lower()]
        return EncodedVideoSink(
            temporary,
            container_format,
            self.frame_rate,
            self.time_base,
            crf,
            preset,
            audio,
            variable_rate,
        )

    def _start(self, size: tuple[int, int]) -> None:
        width, height = int(size[0]), int(size[1])
        if width < 1 or height < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.size = (width, height)
        self._guard(lambda: self._sink.start(width, height))

    @property
    def duration(self) -> Fraction:
        """Seconds from the first frame's start to the last frame's end, so far."""
        return self.timing.duration

    @property
    def variable_rate(self) -> bool:
        """Whether the frames' intervals vary (beyond rounding to :attr:`time_base`)."""
        return self.timing.variable

    @property
    def average_rate(self) -> Fraction:
        """:attr:`frame_rate`, or for a variable rate the frames written per second."""
        return self.timing.average_rate if self.timing.variable else self.frame_rate

    def write(self, frame: np.ndarray, time: float | Fraction | None = None) -> None:
        """Append one (H, W, 3) frame, uint8 (0..255) or float in [0, 1] (clipped), shown
        at ``time`` seconds since the first frame (default: ``1 / fps`` after the
        previous one)."""
        if self._closed:
            raise RuntimeError(f"VideoWriter for {self.path} is closed")
        check_rgb_frame(frame)
        height, width = frame.shape[:2]
        if self.size is None:
            self._start((width, height))
        if (width, height) != self.size:
            raise ValueError(
                f"frame is {width}x{height} but the video is {self.size[0]}x{self.size[1]}"
            )
        pixels = to_uint8(frame)
        shown = self.timing.add(None if time is None else Fraction(time))
        self._guard(lambda: self._sink.write(pixels, shown))
        self.frames_written += 1

    def write_batch(
        self, frames: np.ndarray, times: Sequence[float | Fraction] | None = None
    ) -> None:
        """Append (B, H, W, 3) frames, uint8 or float in [0, 1], with their times in
        seconds since the first frame (see :meth:`write`)."""
        if frames.ndim != 4:
            raise ValueError(f"expected (B, H, W, 3) frames, got shape {frames.shape}")
        if times is not None and len(times) != len(frames):
            raise ValueError(f"{len(frames)} frames but {len(times)} times")
        for index, frame in enumerate(frames):
            self.write(frame, None if times is None else times[index])

    def close(self) -> None:
        """Finish the output and rename it onto :attr:`path` (replacing an old output).

        Raises ``ValueError`` if no frame was written (the temporary output is removed).
        """
        if self._closed:
            return
        if self.frames_written == 0:
            self.abort()
            raise ValueError(f"no frames were written to {self.path}")

        def finish_and_commit() -> None:
            self._sink.finish(self.timing.end)
            with signals.deferred():  # replacing an old output takes two renames
                self._sink.commit(self.path)

        self._guard(finish_and_commit)
        self._closed = True

    def abort(self) -> None:
        """Discard the output: remove everything written so far. Does nothing after a
        successful :meth:`close`; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._sink.discard()

    def _guard(self, action: Callable[[], None]) -> None:
        """Run ``action``; on an FFmpeg or OS error discard the output, raise MediaError."""
        try:
            action()
        except (av.error.FFmpegError, OSError) as error:
            self.abort()
            raise media_error(self.path, f"cannot write ({describe_error(error)})") from None
        except BaseException:
            self.abort()
            raise

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self) -> str:
        return f"VideoWriter({str(self.path)!r}, fps={self.frame_rate}, kind={self.kind!r})"


class FrameTiming:
    """The times of the frames written so far, in whole ticks of ``time_base`` seconds.

    A time is rounded to the nearest tick, and moved to one tick after the previous
    frame's when it would not come later; a frame without a time comes ``1 / rate``
    after the previous one. The last frame lasts as long as the interval before it
    (``1 / rate`` for a single frame).
    """

    def __init__(self, time_base: Fraction, rate: Fraction) -> None:
        self.time_base = time_base
        self.rate = rate
        self.count = 0
        self.first: int | None = None
        self.last: int | None = None
        self.interval: int | None = None  # between the last two frames
        self.shortest: int | None = None
        self.longest: int | None = None

    def add(self, time: Fraction | None) -> Fraction:
        """Record the next frame, shown at ``time`` seconds; returns the time stored."""
        if time is None:
            time = Fraction(0) if self.last is None else self.last * self.time_base + 1 / self.rate
        tick = round(time / self.time_base)
        if self.last is None:
            self.first = tick
        else:
            tick = max(tick, self.last + 1)
            self.interval = tick - self.last
            self.shortest = min(self.shortest or self.interval, self.interval)
            self.longest = max(self.longest or self.interval, self.interval)
        self.last = tick
        self.count += 1
        return tick * self.time_base

    @property
    def end(self) -> Fraction:
        """When the last frame ends, in seconds (0 before any frame)."""
        if self.last is None:
            return Fraction(0)
        if self.interval is None:
            return self.last * self.time_base + 1 / self.rate
        return (self.last + self.interval) * self.time_base

    @property
    def duration(self) -> Fraction:
        """Seconds from the first frame's start to the last frame's end."""
        return self.end - (self.first or 0) * self.time_base

    @property
    def variable(self) -> bool:
        """Whether the intervals differ by more than the one tick rounding can make."""
        if self.shortest is None or self.longest is None:
            return False
        return self.longest - self.shortest > 1

    @property
    def average_rate(self) -> Fraction:
        """Frames per second over the whole duration (``rate`` before any frame)."""
        return self.count / self.duration if self.count else self.rate


def output_kind(path: PathLike) -> OutputKind:
    """``"video"``, ``"gif"`` or ``"frames"`` (a PNG folder) for an output path.

    Raises :class:`~tpsmm.errors.MediaError` for a suffix that is none of these.
    """
    text = os.fspath(path)
    candidate = Path(text)
    if text.endswith(("/", os.sep)) or candidate.is_dir() or not candidate.suffix:
        return "frames"
    suffix = candidate.suffix.lower()
    if suffix in VIDEO_FORMATS:
        return "video"
    if suffix == GIF_SUFFIX:
        return "gif"
    known = ", ".join([*VIDEO_FORMATS, GIF_SUFFIX])
    raise media_error(
        path, f"unsupported output type {suffix!r}; use {known} or a folder for PNG frames"
    )


def check_output(path: PathLike) -> OutputKind:
    """The output type of ``path`` after checking, leaving nothing behind, that an
    output can be written there: its folder exists and takes files (see
    :func:`tpsmm.files.check_writable_folder`: not read-only, full or without write
    permission); a PNG folder is new, empty or holds only frames.

    Raises:
        MediaError: the output type or the place is wrong.
        OutputError: the folder cannot be written.
    """
    kind = output_kind(path)
    _check_destination(Path(os.fspath(path)), kind)
    return kind


def _check_destination(path: Path, kind: OutputKind) -> None:
    """Raise MediaError or OutputError when the output could not be placed at ``path``."""
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise media_error(path, f"{parent} is a file, not a folder")
    if not parent.is_dir():
        raise media_error(path, f"folder {parent} does not exist")
    if kind != "frames":
        if path.is_dir():
            raise media_error(path, "is a folder; give a file name for the output")
    elif path.exists() and not path.is_dir():
        raise media_error(path, "exists and is not a folder")
    elif path.is_dir() and not holds_only_frames(path):
        raise media_error(path, "folder holds other files; give a new or empty folder")
    check_writable_folder(parent, path)
