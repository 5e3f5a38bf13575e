"""Carrying a media file's audio into a video output, in step with its frames.

:class:`AudioSource` reads the first audio stream of a file (the driving video) and
muxes it into the output as the video frames are encoded: copied when the container
takes its codec (:data:`REMUX_AUDIO`), else transcoded to AAC, aligned on the source's
first video frame and cut at the output's end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from tpsmm.media._common import describe_error, media_error
from tpsmm.media.probe import is_cover_art

# Audio codecs copied without re-encoding, per container; others are transcoded to AAC.
# (MP4/MOV keep to what common players accept; Matroska takes what FFmpeg can mux.)
REMUX_AUDIO: dict[str, frozenset[str] | None] = {
    "mp4": frozenset({"aac", "mp3", "alac"}),
    "mov": frozenset({"aac", "mp3", "alac", "pcm_s16le", "pcm_s24le"}),
    "matroska": None,
}


class AudioSource:
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
        self.shift = float(start_time) if start_time is not None else video_start_seconds(container)
        self.output_stream: Any = None
        self.transcode = False
        self._items: Iterator[tuple[float, Any]] | None = None
        self._held: tuple[float, Any] | None = None

    @classmethod
    def open(cls, path: Path, start_time: float | Fraction | None = None) -> AudioSource | None:
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


def video_start_seconds(container: av.container.InputContainer) -> float:
    """Start time in seconds of the container's first video stream (0 if none)."""
    for stream in container.streams.video:
        if is_cover_art(stream) or stream.start_time is None or stream.time_base is None:
            continue
        return float(stream.start_time * stream.time_base)
    return 0.0
