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
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import av
import numpy as np
from PIL import Image

from tpsmm.files import partial_path
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

    ``fps`` is kept exactly (pass ``reader.frame_rate``, e.g. ``Fraction(30000, 1001)``;
    floats such as 29.97 are matched to NTSC rates). ``audio_from`` names a media file
    whose first audio stream is carried into a video output (copied when the container
    takes its codec, e.g. AAC into MP4, else transcoded to AAC), trimmed to the video's
    duration; a file without audio adds none; GIF and PNG outputs ignore it. ``size`` is
    the (width, height) of the frames; by default the first frame's. ``crf`` and
    ``preset`` tune libx264 (lower crf is better quality; 18 is visually lossless).

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
        size: tuple[int, int] | None = None,
        crf: int = 18,
        preset: str = "medium",
    ) -> None:
        self.kind: OutputKind = output_kind(path)
        self.path = Path(path)
        self.frame_rate = to_frame_rate(fps)
        self.size: tuple[int, int] | None = None
        self.frames_written = 0
        self._closed = False
        _check_destination(self.path, self.kind)
        self._sink = self._make_sink(audio_from, crf, preset)
        if size is not None:
            self._start(size)

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

    def _make_sink(self, audio_from: PathLike | None, crf: int, preset: str) -> _Sink:
        if self.kind == "frames":
            folder = Path(os.path.abspath(self.path))
            return _PngFolderSink(partial_path(folder))
        temporary = partial_path(self.path)
        if self.kind == "gif":
            return _GifSink(temporary, self.frame_rate)
        audio = _AudioSource.open(Path(audio_from)) if audio_from is not None else None
        container_format = VIDEO_FORMATS[self.path.suffix.lower()]
        return _EncodedVideoSink(temporary, container_format, self.frame_rate, crf, preset, audio)

    def _start(self, size: tuple[int, int]) -> None:
        width, height = int(size[0]), int(size[1])
        if width < 1 or height < 1:
            raise ValueError(f"size must be positive, got {size}")
        self.size = (width, height)
        self._guard(lambda: self._sink.start(width, height))

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) frame, uint8 (0..255) or float in [0, 1] (clipped)."""
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
        self._guard(lambda: self._sink.write(pixels, self.frames_written))
        self.frames_written += 1

    def write_batch(self, frames: np.ndarray) -> None:
        """Append (B, H, W, 3) frames, uint8 or float in [0, 1]."""
        if frames.ndim != 4:
            raise ValueError(f"expected (B, H, W, 3) frames, got shape {frames.shape}")
        for frame in frames:
            self.write(frame)

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
            self._sink.finish()
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
    """The output type of ``path`` after checking, without creating anything, that an
    output can be written there (its folder exists; a PNG folder is new, empty or holds
    only frames). Raises :class:`~tpsmm.errors.MediaError` otherwise."""
    kind = output_kind(path)
    _check_destination(Path(os.fspath(path)), kind)
    return kind


def _check_destination(path: Path, kind: OutputKind) -> None:
    """Raise MediaError when the output could not be placed at ``path``."""
    if not path.parent.is_dir():
        raise media_error(path, f"folder {path.parent} does not exist")
    if kind != "frames":
        if path.is_dir():
            raise media_error(path, "is a folder; give a file name for the output")
        return
    if path.exists() and not path.is_dir():
        raise media_error(path, "exists and is not a folder")
    if path.is_dir() and not _holds_only_frames(path):
        raise media_error(path, "folder holds other files; give a new or empty folder")


def _holds_only_frames(folder: Path) -> bool:
    """Whether a folder is empty or holds only files named like ``000123.png``."""
    return all(FRAME_NAME.fullmatch(entry.name) and entry.is_file() for entry in folder.iterdir())


class _Sink:
    """Where encoded frames go; subclasses implement one output type."""

    temporary: Path

    def start(self, width: int, height: int) -> None:
        """Prepare for frames of this size (called once, before the first frame)."""

    def write(self, frame: np.ndarray, index: int) -> None:
        """Write frame number ``index``, (H, W, 3) uint8 contiguous."""
        raise NotImplementedError

    def finish(self) -> None:
        """Flush and close the temporary output."""

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
        temporary.mkdir()

    def write(self, frame: np.ndarray, index: int) -> None:
        Image.fromarray(frame).save(self.temporary / f"{index:06d}.png")

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
    """Common lifetime of outputs written by an FFmpeg output container."""

    def __init__(self, temporary: Path) -> None:
        self.temporary = temporary
        self.container: av.container.OutputContainer | None = None

    def discard(self) -> None:
        if self.container is not None:
            container, self.container = self.container, None
            with contextlib.suppress(av.error.FFmpegError, OSError):
                container.close()
        super().discard()


class _GifSink(_ContainerSink):
    """An animated GIF, looping forever, with a 256-colour palette made for each frame.

    Each frame is quantised on its own (Pillow's fast octree, no dithering), so fades and
    cuts keep their colours; FFmpeg stores a palette per frame where it differs. FFmpeg's
    GIF muxer keeps the frame rate on average (GIF delays are in 1/100 s).
    """

    def __init__(self, temporary: Path, frame_rate: Fraction) -> None:
        super().__init__(temporary)
        self.frame_rate = frame_rate

    def start(self, width: int, height: int) -> None:
        self.container = av.open(str(self.temporary), "w", format="gif")
        self.stream = self.container.add_stream(
            "gif", rate=self.frame_rate, time_base=1 / self.frame_rate
        )
        self.stream.width, self.stream.height = width, height
        self.stream.pix_fmt = "pal8"
        self.container.start_encoding()

    def write(self, frame: np.ndarray, index: int) -> None:
        assert self.container is not None
        indexed = Image.fromarray(frame).quantize(
            256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE
        )
        video_frame = av.VideoFrame.from_ndarray(
            (np.asarray(indexed), _argb_palette(indexed)), format="pal8"
        )
        video_frame.pts = index
        video_frame.time_base = 1 / self.frame_rate
        self.container.mux(self.stream.encode(video_frame))

    def finish(self) -> None:
        assert self.container is not None
        self.container.mux(self.stream.encode(None))
        container, self.container = self.container, None
        container.close()


def _argb_palette(image: Image.Image) -> np.ndarray:
    """The palette of a "P" image as a (256, 4) uint8 ARGB array (opaque)."""
    rgb = np.asarray(image.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)[:256]
    argb = np.zeros((256, 4), dtype=np.uint8)
    argb[:, 0] = 255
    argb[: len(rgb), 1:] = rgb
    return argb


class _EncodedVideoSink(_ContainerSink):
    """H.264 (libx264, yuv420p) in MP4, MOV or Matroska, with optional carried audio."""

    def __init__(
        self,
        temporary: Path,
        container_format: str,
        frame_rate: Fraction,
        crf: int,
        preset: str,
        audio: _AudioSource | None,
    ) -> None:
        super().__init__(temporary)
        self.container_format = container_format
        self.frame_rate = frame_rate
        self.time_base = 1 / frame_rate
        self.codec_options = {"crf": str(crf), "preset": preset}
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
        self.pad = (height % 2, width % 2)
        self.stream.width, self.stream.height = width + self.pad[1], height + self.pad[0]
        self.stream.pix_fmt = "yuv420p"
        if self.audio is not None:
            self.audio.add_output_stream(self.container)
        self.container.start_encoding()  # creates the file: fail now, not at frame 40

    def write(self, frame: np.ndarray, index: int) -> None:
        assert self.container is not None
        if any(self.pad):
            frame = np.pad(frame, ((0, self.pad[0]), (0, self.pad[1]), (0, 0)), mode="edge")
        video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
        video_frame.pts = index
        video_frame.time_base = self.time_base
        self.container.mux(self.stream.encode(video_frame))
        if self.audio is not None:
            self.audio.mux_until(self.container, float((index + 1) * self.time_base))

    def finish(self) -> None:
        assert self.container is not None
        self.container.mux(self.stream.encode(None))
        if self.audio is not None:
            self.audio.finish(self.container)
        container, self.container = self.container, None
        container.close()

    def discard(self) -> None:
        if self.audio is not None:
            self.audio.close()
        super().discard()


class _AudioSource:
    """The first audio stream of a media file, muxed into an output in step with video.

    Timestamps are shifted so that the audio keeps its offset to the source's first video
    frame (the output's first frame is at time 0), and audio past the output video's end
    is dropped (at packet or frame granularity).
    """

    def __init__(self, path: Path, container: av.container.InputContainer) -> None:
        self.path = path
        self.input = container
        self.stream = container.streams.audio[0]
        self.shift = _video_start_seconds(container)
        self.output_stream: Any = None
        self.transcode = False
        self._items: Iterator[tuple[float, Any]] | None = None
        self._held: tuple[float, Any] | None = None

    @classmethod
    def open(cls, path: Path) -> _AudioSource | None:
        """The audio of ``path``, or None when it has no audio stream (or is a folder of
        frames)."""
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
        return cls(path, container)

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
