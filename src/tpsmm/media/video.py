"""Streaming video input: video files FFmpeg reads and folders of frame images.

Frames are (H, W, 3) uint8 RGB arrays, decoded one at a time, each with its timestamp
(:meth:`VideoReader.timed_frames`): variable-frame-rate videos (phones, screen recorders)
keep their timing through :class:`tpsmm.media.writer.VideoWriter`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from itertools import chain, islice
from pathlib import Path
from types import TracebackType

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from tpsmm import signals
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

__all__ = ["VideoReader", "list_frame_files", "rate_from_timestamps", "read_video"]

# Frame rate assumed when a video file states none and has fewer than two timestamps.
FALLBACK_FPS: Fraction = Fraction(25)
# Packets whose timestamps give a video file's frame rate (VideoReader.frame_rate).
RATE_PACKETS = 250
# Denominators of the rates people use: whole, halves (12.5) and NTSC (30000/1001).
STANDARD_DENOMINATORS = (1, 2, 1001)
# How many packets a frame can come after its presentation turn (H.264's largest
# decoded picture buffer).
REORDER_DEPTH = 16


class VideoReader:
    """Frames of a video file, or of a folder of images, as (H, W, 3) uint8 RGB arrays.

    ``path`` is any file FFmpeg reads with a video stream (mp4, mov, avi, mkv, webm,
    animated gif, ...) or a folder of frame images (PNG, JPEG, ...), taken in natural
    name order (``frame2`` before ``frame10``); hidden files and other files are skipped.

    ``fps`` is the frame rate of a folder of frames (default 25); a video file has its
    own timestamps and ignores it. With ``autorotate`` (default) frames of a file whose
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
        self._first_time: Fraction | None = None
        self._pending: Iterator[tuple[np.ndarray, Fraction]] | None = None
        if check:
            try:
                self.check()
            except BaseException:
                self.close()
                raise

    # Metadata --------------------------------------------------------------------------

    @property
    def frame_rate(self) -> Fraction:
        """The frame rate (frames per second) that the timestamps show, e.g. exactly
        ``Fraction(30000, 1001)``; for a variable-rate video, the average rate of its first
        :data:`RATE_PACKETS` frames.

        A container's nominal rate is used only where the timestamps agree with it to
        within their precision (FFmpeg reports a rate of 1000 for variable-rate Matroska
        files): see :func:`rate_from_timestamps`. A folder of frames has ``fps``.
        """
        return self._source.frame_rate

    @property
    def variable_rate(self) -> bool:
        """Whether the first :data:`RATE_PACKETS` frames' intervals vary: no constant
        rate puts each of them within one tick of its timestamp (never for a folder)."""
        return self._source.variable_rate

    @property
    def time_base(self) -> Fraction:
        """The unit of the stream's timestamps in seconds (``1/fps`` for a folder); the
        times of :meth:`timed_frames` are whole multiples of it."""
        return self._source.time_base

    @property
    def start_time(self) -> Fraction:
        """The timestamp in seconds of the first frame in the file's own clock (its audio
        is aligned to it); 0 for a folder. Decodes the first frame if none has been."""
        self.check()
        assert self._first_time is not None
        return self._first_time

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
            (self._first, self._first_time), self._pending = first, frames
        return self._first

    def __iter__(self) -> Iterator[np.ndarray]:
        """Yield every frame, (H, W, 3) uint8 RGB, one at a time, from the first."""
        return (frame for frame, _ in self.timed_frames())

    def timed_frames(self) -> Iterator[tuple[np.ndarray, Fraction]]:
        """Yield ``(frame, seconds)`` for every frame from the first: (H, W, 3) uint8 RGB
        and its presentation time in seconds since the first frame (exact: whole multiples
        of :attr:`time_base`, strictly increasing; ``index / fps`` for a folder)."""
        count = 0
        if self._pending is not None:
            frames, self._pending = self._pending, None
            assert self._first is not None and self._first_time is not None
            first = (self._first, self._first_time)
            frames = chain([first], frames)
        else:
            frames = self._source.frames()
        for frame, time in frames:
            if count == 0:
                self._first, self._first_time = frame, time
            count += 1
            assert self._first_time is not None
            yield frame, time - self._first_time
        if count == 0:
            raise self._no_frames_error()

    def read_batches(self, batch_size: int, max_frames: int | None = None) -> Iterator[np.ndarray]:
        """Yield (B, H, W, 3) uint8 batches of ``batch_size`` frames (the last may be
        shorter), at most ``max_frames`` frames in all."""
        for batch, _ in self.read_timed_batches(batch_size, max_frames):
            yield batch

    def read_timed_batches(
        self, batch_size: int, max_frames: int | None = None
    ) -> Iterator[tuple[np.ndarray, list[Fraction]]]:
        """Like :meth:`read_batches`, with each frame's time in seconds since the first
        (see :meth:`timed_frames`): ``(batch, times)`` with ``len(times) == len(batch)``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        frames = islice(self.timed_frames(), max_frames)
        while batch := list(islice(frames, batch_size)):
            yield np.stack([frame for frame, _ in batch]), [time for _, time in batch]

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
        self.time_base = 1 / frame_rate
        self.variable_rate = False
        self.files = list_frame_files(folder)
        if not self.files:
            suffixes = ", ".join(sorted(IMAGE_SUFFIXES))
            raise media_error(folder, f"folder holds no frame images ({suffixes})")
        self.num_frames: int | None = len(self.files)

    def frames(self) -> Iterator[tuple[np.ndarray, Fraction]]:
        """(frame, index / fps) for each file."""
        first_shape: tuple[int, ...] | None = None
        for index, file in enumerate(self.files):
            frame = load_image(file)
            if first_shape is None:
                first_shape = frame.shape
            elif frame.shape != first_shape:
                raise media_error(
                    file,
                    f"frame is {frame.shape[1]}x{frame.shape[0]} but the first frame "
                    f"of the folder is {first_shape[1]}x{first_shape[0]}",
                )
            yield frame, index * self.time_base

    def close(self) -> None:
        pass


def _open_container(path: Path) -> av.container.InputContainer:
    """``av.open(path)``, again after a signal that interrupted it without stopping the
    process; a stopping signal (swallowed by PyAV as ``InterruptedError``) is raised."""
    while True:
        try:
            return av.open(str(path))
        except InterruptedError:  # a FIFO or slow file system, opened when a signal came
            signals.raise_received()


class _ContainerSource:
    """Frames decoded by FFmpeg from one video stream of a container file."""

    def __init__(self, path: Path, autorotate: bool) -> None:
        self.path = path
        self.autorotate = autorotate
        _reject_non_video_path(path)
        self._container = self._open()
        self._used = False
        stream = self._video_stream(self._container)
        self.time_base = Fraction(stream.time_base) if stream.time_base else Fraction(1, 90000)
        self._nominal_rates = [stream.average_rate, stream.guessed_rate, stream.base_rate]
        self._frame_rate: Fraction | None = None
        self._variable = False
        self.num_frames = int(stream.frames) if stream.frames and stream.frames > 0 else None
        self.has_audio = len(self._container.streams.audio) > 0

    @property
    def frame_rate(self) -> Fraction:
        """The rate the first packets' timestamps show (read once, on first use)."""
        if self._frame_rate is None:
            times = self._packet_times(RATE_PACKETS)
            self._frame_rate = rate_from_timestamps(times, self.time_base, self._nominal_rates)
            self._variable = not fits_rate(times, self.time_base, self._frame_rate)
        return self._frame_rate

    @property
    def variable_rate(self) -> bool:
        """Whether no constant rate fits the first packets' timestamps."""
        _ = self.frame_rate
        return self._variable

    def _packet_times(self, limit: int) -> list[Fraction]:
        """Presentation times (seconds) of the video stream's first ``limit`` frames,
        sorted, from its packets read in a container of their own (nothing is decoded).

        Packets come in decoding order; a frame is at most :data:`REORDER_DEPTH` packets
        late, so reading that many more finds every one of the first ``limit`` frames.
        """
        container = self._open()
        times = []
        try:
            stream = self._video_stream(container)
            for packet in container.demux(stream):
                if packet.pts is not None and packet.size:
                    times.append(packet.pts * self.time_base)
                    if len(times) >= limit + REORDER_DEPTH:
                        break
        except (av.error.FFmpegError, OSError):
            pass  # a corrupt file: the rate from what was read; decoding reports it
        finally:
            container.close()
        return sorted(times)[:limit]

    def _open(self) -> av.container.InputContainer:
        try:
            container = _open_container(self.path)
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

    def frames(self) -> Iterator[tuple[np.ndarray, Fraction]]:
        """A fresh generator of (frame, seconds) from the start (reopens the file after
        the first)."""
        if self._used:
            self._container.close()
            self._container = self._open()
        self._used = True
        return self._decode(self._container)

    def _decode(
        self, container: av.container.InputContainer
    ) -> Iterator[tuple[np.ndarray, Fraction]]:
        stream = self._video_stream(container)
        stream.thread_type = "AUTO"
        # One converter for the whole stream: its conversion context is built once
        # instead of per frame (about 3x faster than frame.to_ndarray(format=...)).
        to_rgb = VideoReformatter()
        turns: int | None = None
        count = 0
        previous: int | None = None
        try:
            for frame in container.decode(stream):
                if turns is None:
                    turns = _quarter_turns(frame.rotation) if self.autorotate else 0
                array = to_rgb.reformat(frame, format="rgb24").to_ndarray()
                if turns:
                    array = np.ascontiguousarray(np.rot90(array, turns))
                previous = self._timestamp(frame, previous)
                count += 1
                yield array, previous * self.time_base
        except (av.error.FFmpegError, OSError) as error:
            problem = f"corrupt video data after {count} frames ({describe_error(error)})"
            raise media_error(self.path, problem) from None

    def _timestamp(self, frame: av.VideoFrame, previous: int | None) -> int:
        """A frame's presentation time in ticks of :attr:`time_base`, strictly after
        ``previous``: a frame without one, or a repeated or backward one (broken files),
        is put one frame interval (of :attr:`frame_rate`) after the previous frame."""
        pts = frame.pts
        if frame.time_base is not None and frame.time_base != self.time_base and pts is not None:
            pts = round(pts * frame.time_base / self.time_base)
        if previous is None:
            return pts if pts is not None else 0
        if pts is None or pts <= previous:
            return previous + max(round(1 / (self.frame_rate * self.time_base)), 1)
        return pts

    def close(self) -> None:
        self._container.close()


def _reject_non_video_path(path: Path) -> None:
    """Raise MediaError for a missing path or a file whose suffix names a still image."""
    if not path.exists():
        raise media_error(path, "no such file or directory")
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES or (suffix == GIF_SUFFIX and pillow_frame_count(path) == 1):
        raise media_error(path, "is an image, not a video")


def rate_from_timestamps(
    times: list[Fraction], time_base: Fraction, nominal: list[Fraction | None]
) -> Fraction:
    """The frame rate that sorted presentation ``times`` (seconds) show.

    A rate fits the times when it puts every frame within one tick of ``time_base`` of
    its timestamp (:func:`fits_rate`). The first that fits of: the nominal rates (a
    container's average, guessed and base rates) that are whole, halves or NTSC
    (``n * 1000/1001``), exactly (so 29.97 fps in Matroska's millisecond ticks is
    30000/1001, not 30); the whole and the NTSC rate nearest the average; the other
    nominal rates. When none fits (a variable frame rate, or FFmpeg's 1000 for such
    Matroska files): the average rate of the times. With fewer than two distinct
    times: the first positive nominal rate, else 25.
    """
    rates = [Fraction(rate) for rate in nominal if rate is not None and rate > 0]
    span = times[-1] - times[0] if len(times) > 1 else Fraction(0)
    if span <= 0:
        return rates[0] if rates else FALLBACK_FPS
    average = (len(times) - 1) / span
    ntsc = Fraction(round(average * Fraction(1001, 1000)) * 1000, 1001)
    standard = [rate for rate in rates if rate.denominator in STANDARD_DENOMINATORS]
    others = [rate for rate in rates if rate not in standard]
    for rate in [*standard, Fraction(round(average)), ntsc, *others]:
        if fits_rate(times, time_base, rate):
            return rate
    return average.limit_denominator(1001)


def fits_rate(times: list[Fraction], time_base: Fraction, rate: Fraction) -> bool:
    """Whether a constant ``rate`` puts frame ``i`` within the times' precision of
    sorted ``times[i]`` (seconds), for every frame.

    The precision is one tick of ``time_base``, or the coarser unit all the times are
    whole multiples of when it is under a quarter of a frame interval (millisecond
    times that MP4 stored in 1/16000 s ticks: 1 ms).
    """
    if rate <= 0 or not times:
        return False
    ticks = [round((time - times[0]) / time_base) for time in times]
    unit = math.gcd(*ticks) if len(ticks) > 1 else 0
    tolerance = time_base
    if unit and 4 * unit * (len(ticks) - 1) <= ticks[-1]:
        tolerance = unit * time_base
    return all(abs(time - times[0] - index / rate) <= tolerance for index, time in enumerate(times))


def _quarter_turns(rotation: float) -> int:
    """Counter-clockwise quarter turns (0..3) for numpy.rot90 that make a frame with
    this display rotation (degrees counter-clockwise) upright."""
    return round(rotation / 90) % 4
