"""Streaming, atomic output: H.264 video (with the driving video's audio), GIF, PNG frames.

The output type follows the path: ``.mp4``, ``.mov``, ``.m4v`` and ``.mkv`` give H.264
video (libx264, yuv420p); ``.gif`` an animated GIF; a path without a suffix, ending in a
path separator, or naming an existing folder gives a folder of ``000000.png``,
``000001.png``, ... Everything is written under a temporary name in the destination's
folder and renamed onto the final path only by a successful :meth:`VideoWriter.close`.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import av
import numpy as np
from PIL import Image

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
from tpsmm.media.probe import is_cover_art

if TYPE_CHECKING:
    from tpsmm.media.video import VideoReader

OutputKind = Literal["video", "gif", "frames"]

# Container format by suffix for H.264 outputs.
VIDEO_FORMATS: dict[str, str] = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# Audio codecs copied without re-encoding, per container; others are transcoded to AAC.
# (MP4/MOV keep to what common players accept; Matroska takes what FFmpeg can mux.)
REMUX_AUDIO: dict[str, frozenset[str] | None] = {
    "mp4": frozenset({"aac", "mp3", "alac"}),
    "mov": frozenset({"aac", "mp3", "alac", "pcm_s16le", "pcm_s24le"}),
    "matroska": None,
}
FRAME_NAME = re.compile(r"\d{6,}\.png")


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
        return isinstance(self._sink, _EncodedVideoSink) and self._sink.audio is not None

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
    ) -> _Sink:
        temporary = partial_path(os.path.abspath(self.path), folder=self.kind == "frames")
        if self.kind == "frames":
            return _PngFolderSink(temporary)
        if self.kind == "gif":
            return _GifSink(temporary)
        audio = None
        if audio_from is not None:
            audio = _AudioSource.open(Path(audio_from), start_time)
        container_format = VIDEO_FORMATS[self.path.suffix.lower()]
        return _EncodedVideoSink(
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
    elif path.is_dir() and not _holds_only_frames(path):
        raise media_error(path, "folder holds other files; give a new or empty folder")
    check_writable_folder(parent, path)


def _holds_only_frames(folder: Path) -> bool:
    """Whether a folder is empty or holds only files named like ``000123.png``."""
    return all(FRAME_NAME.fullmatch(entry.name) and entry.is_file() for entry in folder.iterdir())


class _Sink:
    """Where encoded frames go; subclasses implement one output type."""

    temporary: Path

    def start(self, width: int, height: int) -> None:
        """Prepare for frames of this size (called once, before the first frame): create
        the temporary output."""

    def write(self, frame: np.ndarray, time: Fraction) -> None:
        """Write the next frame, (H, W, 3) uint8 contiguous, shown at ``time`` seconds
        (later than the previous frame's)."""
        raise NotImplementedError

    def finish(self, end: Fraction) -> None:
        """Flush and close the temporary output; the last frame ends at ``end``."""

    def commit(self, path: Path) -> None:
        """Move the finished temporary output onto ``path``."""
        os.replace(self.temporary, path)

    def discard(self) -> None:
        """Close everything and remove the temporary output."""
        self.temporary.unlink(missing_ok=True)


class _PngFolderSink(_Sink):
    """A folder of ``000000.png``, ``000001.png``, ..."""

    def __init__(self, temporary: Path) -> None:
        self.temporary = temporary
        self.count = 0

    def start(self, width: int, height: int) -> None:
        self.temporary.mkdir()

    def write(self, frame: np.ndarray, time: Fraction) -> None:
        Image.fromarray(frame).save(self.temporary / f"{self.count:06d}.png")
        self.count += 1

    def commit(self, path: Path) -> None:
        if not path.exists():
            os.replace(self.temporary, path)
            return
        if not _holds_only_frames(path):  # something appeared meanwhile: keep it
            raise OSError(f"folder {path} now holds other files")
        previous = path.with_name(f".{path.name}.old-{secrets.token_hex(4)}")
        os.replace(path, previous)
        os.replace(self.temporary, path)
        shutil.rmtree(previous, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)


class _ContainerSink(_Sink):
    """An output written by an FFmpeg container: one video stream whose frames carry
    their times in ticks of ``time_base`` and last until the next frame's time.

    A frame is encoded once the next one (or the end) is known, so that each packet
    carries its frame's own duration; subclasses set up the stream and make the
    :class:`av.VideoFrame`.
    """

    def __init__(self, temporary: Path, time_base: Fraction) -> None:
        self.temporary = temporary
        self.time_base = time_base
        self.container: av.container.OutputContainer | None = None
        self.stream: Any = None
        self.held: tuple[np.ndarray, int] | None = None  # (frame, pts) not yet encoded
        self.durations: dict[int, int] = {}  # pts -> duration, of frames in the encoder

    def write(self, frame: np.ndarray, time: Fraction) -> None:
        pts = round(time / self.time_base)
        if self.held is not None:
            pts = max(pts, self.held[1] + 1)  # a coarser time base than the writer's
            self._encode(*self.held, pts)
        self.held = (frame, pts)

    def _video_frame(self, frame: np.ndarray) -> av.VideoFrame:
        """The frame to encode, (H, W, 3) uint8 RGB in."""
        raise NotImplementedError

    def _encode(self, frame: np.ndarray, pts: int, next_pts: int) -> None:
        """Encode a frame shown from ``pts`` until ``next_pts``."""
        video_frame = self._video_frame(frame)
        video_frame.pts = pts
        video_frame.duration = next_pts - pts
        video_frame.time_base = self.time_base
        self.durations[pts] = next_pts - pts
        self._mux(self.stream.encode(video_frame))

    def _mux(self, packets: list[av.Packet]) -> None:
        """Mux encoded packets, each with its frame's duration."""
        assert self.container is not None
        for packet in packets:
            if packet.pts is not None and packet.pts in self.durations:
                packet.duration = self.durations.pop(packet.pts)
        self.container.mux(packets)

    def finish(self, end: Fraction) -> None:
        if self.held is not None:
            frame, pts = self.held
            self.held = None
            self._encode(frame, pts, max(round(end / self.time_base), pts + 1))
        self._mux(self.stream.encode(None))
        self._close()

    def _close(self) -> None:
        assert self.container is not None
        container, self.container = self.container, None
        container.close()

    def discard(self) -> None:
        if self.container is not None:
            container, self.container = self.container, None
            with contextlib.suppress(av.error.FFmpegError, OSError):
                container.close()
        super().discard()


class _GifSink(_ContainerSink):
    """An animated GIF, looping forever, with a 256-colour palette made for each frame.

    Each frame is quantised on its own (Pillow's fast octree, no dithering), so fades and
    cuts keep their colours; FFmpeg stores a palette per frame where it differs. Each
    frame's delay comes from the frames' times, in the hundredths of a second GIF
    counts (rounded from the start, so the total stays right).
    """

    def __init__(self, temporary: Path) -> None:
        super().__init__(temporary, Fraction(1, 100))

    def start(self, width: int, height: int) -> None:
        self.container = av.open(str(self.temporary), "w", format="gif")
        self.stream = self.container.add_stream("gif", time_base=self.time_base)
        self.stream.codec_context.time_base = self.time_base
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "pal8"
        self.container.start_encoding()

    def _video_frame(self, frame: np.ndarray) -> av.VideoFrame:
        indexed = Image.fromarray(frame).quantize(
            256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        return av.VideoFrame.from_ndarray(
            (np.asarray(indexed), _argb_palette(indexed)), format="pal8"
        )


def _argb_palette(image: Image.Image) -> np.ndarray:
    """The palette of a "P" image as a (256, 4) uint8 ARGB array (opaque)."""
    rgb = np.asarray(image.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)[:256]
    argb = np.zeros((256, 4), dtype=np.uint8)
    argb[:, 0] = 255
    argb[: len(rgb), 1:] = rgb
    return argb


class _EncodedVideoSink(_ContainerSink):
    """H.264 (libx264, yuv420p) in MP4, MOV or Matroska, with optional carried audio.

    Frames keep their times in ticks of ``time_base`` (Matroska rounds them to
    milliseconds) and their durations, so a variable frame rate survives (Matroska
    stores durations per block). MP4 and MOV store decoding-time intervals instead,
    which B-frames (decoded out of display order) make disagree with the display times
    when the rate varies: with ``variable_rate`` they are written without B-frames, so
    that the length every reader computes is the video's.
    """

    def __init__(
        self,
        temporary: Path,
        container_format: str,
        frame_rate: Fraction,
        time_base: Fraction,
        crf: int,
        preset: str,
        audio: _AudioSource | None,
        variable_rate: bool = False,
    ) -> None:
        super().__init__(temporary, time_base)
        self.container_format = container_format
        self.frame_rate = frame_rate
        self.codec_options = {"crf": str(crf), "preset": preset}
        self.b_frames = not (variable_rate and container_format in ("mp4", "mov"))
        self.audio = audio
        self.pad = (0, 0)

    def start(self, width: int, height: int) -> None:
        options = {"movflags": "+faststart"} if self.container_format in ("mp4", "mov") else {}
        self.container = av.open(
            str(self.temporary), "w", format=self.container_format, options=options
        )
        self.stream = self.container.add_stream(
            "libx264", rate=self.frame_rate, time_base=self.time_base, options=self.codec_options
        )
        self.stream.codec_context.time_base = self.time_base
        if not self.b_frames:
            self.stream.codec_context.max_b_frames = 0
        self.pad = (height % 2, width % 2)
        self.stream.width, self.stream.height = width + self.pad[1], height + self.pad[0]
        self.stream.pix_fmt = "yuv420p"
        if self.audio is not None:
            self.audio.add_output_stream(self.container)
        self.container.start_encoding()  # creates the file: fail now, not at frame 40

    def _video_frame(self, frame: np.ndarray) -> av.VideoFrame:
        if any(self.pad):
            frame = np.pad(frame, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        return av.VideoFrame.from_ndarray(frame, format="rgb24")

    def _encode(self, frame: np.ndarray, pts: int, next_pts: int) -> None:
        """Encode the frame, then the audio that starts before the next one."""
        super()._encode(frame, pts, next_pts)
        if self.audio is not None:
            assert self.container is not None
            self.audio.mux_until(self.container, float(next_pts * self.time_base))

    def _close(self) -> None:
        if self.audio is not None:
            assert self.container is not None
            self.audio.finish(self.container)
        super()._close()

    def discard(self) -> None:
        if self.audio is not None:
            self.audio.close()
        super().discard()


class _AudioSource:
    """The first audio stream of a media file, muxed into an output in step with video.

    Timestamps are shifted so that the audio keeps its offset to the source's first video
    frame, at ``start_time`` seconds in the source's clock (default: the start of its
    first video stream), which is the output's time 0; audio past the output video's end
    is dropped (at packet or frame granularity).
    """

    def __init__(
        self,
        path: Path,
        container: av.container.InputContainer,
        start_time: float | Fraction | None = None,
    ) -> None:
        self.path = path
        self.input = container
        self.stream = container.streams.audio[0]
        self.shift = (
            float(start_time) if start_time is not None else _video_start_seconds(container)
        )
        self.output_stream: Any = None
        self.transcode = False
        self._items: Iterator[tuple[float, Any]] | None = None
        self._held: tuple[float, Any] | None = None

    @classmethod
    def open(cls, path: Path, start_time: float | Fraction | None = None) -> _AudioSource | None:
        """The audio of ``path``, or None when it has no audio stream (or is a folder of
        frames); ``start_time``: see the class."""
        if path.is_dir():
            return None
        if not path.is_file():
            raise media_error(path, "no such file (given for the audio)")
        try:
            container = av.open(str(path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
            problem = f"cannot read audio ({describe_error(error)})"
            raise media_error(path, problem) from None
        if not container.streams.audio:
            container.close()
            return None
        return cls(path, container, start_time)

    def add_output_stream(self, output: av.container.OutputContainer) -> None:
        """Add the matching audio stream to ``output`` (before anything is muxed)."""
        codec = self.stream.codec_context.name
        allowed = REMUX_AUDIO.get(output.format.name.split(",")[0])
        if allowed is None:
            allowed = frozenset(output.supported_codecs)
        if codec in allowed:
            self.output_stream = output.add_stream_from_template(self.stream)
        else:
            self.transcode = True
            rate = self.stream.codec_context.sample_rate or 48000
            self.output_stream = output.add_stream("aac", rate=rate, time_base=Fraction(1, rate))
            channels = self.stream.codec_context.channels
            self.output_stream.layout = "mono" if channels == 1 else "stereo"
        self._items = self._timed_frames() if self.transcode else self._timed_packets()

    def _timed_packets(self) -> Iterator[tuple[float, Any]]:
        """(start seconds in output time, packet) for each packet, timestamps shifted."""
        time_base = self.stream.time_base
        offset = round(self.shift / time_base) if time_base else 0
        for packet in self._demux():
            timestamp = packet.pts if packet.pts is not None else packet.dts
            if timestamp is None or packet.size == 0:
                continue
            packet.pts = None if packet.pts is None else packet.pts - offset
            packet.dts = None if packet.dts is None else packet.dts - offset
            packet.stream = self.output_stream
            yield float((timestamp - offset) * time_base), packet

    def _timed_frames(self) -> Iterator[tuple[float, Any]]:
        """(start seconds in output time, decoded frame) for audio to transcode; frames
        that begin before the output's start are dropped."""
        for packet in self._demux():
            for frame in self._decode(packet):
                if frame.pts is None or frame.time_base is None:
                    continue
                offset = round(self.shift / frame.time_base)
                frame.pts -= offset
                start = float(frame.pts * frame.time_base)
                if start >= 0:
                    yield start, frame

    def _demux(self) -> Iterator[Any]:
        try:
            yield from self.input.demux(self.stream)
        except (av.error.FFmpegError, OSError) as error:
            raise media_error(self.path, f"corrupt audio ({describe_error(error)})") from None

    def _decode(self, packet: Any) -> list[Any]:
        try:
            return packet.decode()
        except (av.error.FFmpegError, OSError) as error:
            raise media_error(self.path, f"corrupt audio ({describe_error(error)})") from None

    def mux_until(self, output: av.container.OutputContainer, seconds: float) -> None:
        """Mux the audio that starts before ``seconds`` (output time)."""
        assert self._items is not None
        while True:
            item = self._held if self._held is not None else next(self._items, None)
            self._held = None
            if item is None:
                return
            if item[0] >= seconds:
                self._held = item
                return
            self._emit(output, item[1])

    def _emit(self, output: av.container.OutputContainer, item: Any) -> None:
        if self.transcode:
            output.mux(self.output_stream.encode(item))
        else:
            output.mux(item)

    def finish(self, output: av.container.OutputContainer) -> None:
        """Everything left is past the video's end: drop it, flush, close the input."""
        if self.transcode:
            output.mux(self.output_stream.encode(None))
        self.close()

    def close(self) -> None:
        with contextlib.suppress(av.error.FFmpegError, OSError):
            self.input.close()


def _video_start_seconds(container: av.container.InputContainer) -> float:
    """Start time in seconds of the container's first video stream (0 if none)."""
    for stream in container.streams.video:
        if is_cover_art(stream) or stream.start_time is None or stream.time_base is None:
            continue
        return float(stream.start_time * stream.time_base)
    return 0.0
