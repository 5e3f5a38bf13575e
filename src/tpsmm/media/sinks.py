"""Where :class:`tpsmm.media.VideoWriter` puts encoded frames: one sink per output type
(a folder of PNG frames, an animated GIF, H.264 in MP4, MOV or Matroska with carried
audio), each writing a temporary output that :meth:`Sink.commit` moves into place.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image

from tpsmm.media.audio import AudioSource

#: The names of a PNG folder's frames (``000000.png``, ...).
FRAME_NAME = re.compile(r"\d{6,}\.png")


def holds_only_frames(folder: Path) -> bool:
    """Whether a folder is empty or holds only files named like ``000123.png``."""
    return all(FRAME_NAME.fullmatch(entry.name) and entry.is_file() for entry in folder.iterdir())


class Sink:
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


class PngFolderSink(Sink):
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
        if not holds_only_frames(path):  # something appeared meanwhile: keep it
            raise OSError(f"folder {path} now holds other files")
        previous = path.with_name(f".{path.name}.old-{secrets.token_hex(4)}")
        os.replace(path, previous)
        os.replace(self.temporary, path)
        shutil.rmtree(previous, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.temporary, ignore_errors=True)


class ContainerSink(Sink):
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


class GifSink(ContainerSink):
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
            (np.asarray(indexed), argb_palette(indexed)), format="pal8"
        )


def argb_palette(image: Image.Image) -> np.ndarray:
    """The palette of a "P" image as a (256, 4) uint8 ARGB array (opaque)."""
    rgb = np.asarray(image.getpalette("RGB") or [], dtype=np.uint8).reshape(-1, 3)[:256]
    argb = np.zeros((256, 4), dtype=np.uint8)
    argb[:, 0] = 255
    argb[: len(rgb), 1:] = rgb
    return argb


class EncodedVideoSink(ContainerSink):
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
        audio: AudioSource | None,
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
