"""Camera frames for ``tpsmm live``: a camera device, a stream URL or a file, the newest
frame first.

A camera makes frames at its own pace whether or not anyone keeps up. :class:`Camera`
decodes them in a thread of its own into a slot that holds one frame: a frame that
comes while the animation is busy replaces the one waiting (it is dropped), so the
animation always takes the newest frame and latency cannot grow. A file is played at
its own rate, frame times from its timestamps, so it behaves like a camera (frames
dropped when the animation is slower than the file).

What ``--camera`` names (:func:`camera_input`):

- a URL (``rtsp://``, ``http://``, ``udp://``, ...): a network stream;
- an existing file: played at its rate;
- otherwise a device, opened with PyAV's input of this platform: ``v4l2`` on Linux
  (``/dev/video0``, or ``0`` for it), ``avfoundation`` on macOS (``0``, or the device's
  name), ``dshow`` on Windows (``video=NAME``, or the name alone).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from tpsmm import signals
from tpsmm.errors import MediaError

#: PyAV's (FFmpeg's) camera input per platform.
PLATFORM_FORMATS = {"linux": "v4l2", "darwin": "avfoundation", "win32": "dshow"}
#: Seconds to wait for a stream to open and for each read from it.
STREAM_TIMEOUT = (10.0, 10.0)


@dataclass(frozen=True)
class CameraInput:
    """Where frames come from.

    Attributes:
        kind: ``device``, ``stream`` or ``file``.
        target: what FFmpeg opens (a device path or name, a URL, a file path).
        format: FFmpeg's input format for a device (``v4l2``, ...); None otherwise.
        options: FFmpeg's options for opening it (``video_size``, ``framerate``).
    """

    kind: str
    target: str
    format: str | None = None
    options: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        return f"{self.kind} {self.target}" + (f" ({self.format})" if self.format else "")


def camera_input(
    spec: str,
    *,
    input_format: str | None = None,
    size: tuple[int, int] | None = None,
    fps: float | None = None,
    platform: str = sys.platform,
) -> CameraInput:
    """What ``--camera SPEC`` names (see the module docstring); ``input_format``
    overrides the platform's camera input; ``size`` (width, height) and ``fps`` are
    asked of a device."""
    options = []
    if size is not None:
        options.append(("video_size", f"{size[0]}x{size[1]}"))
    if fps is not None:
        options.append(("framerate", f"{fps:g}"))
    if "://" in spec:
        return CameraInput("stream", spec, input_format, tuple(options))
    path = Path(spec)
    if input_format is None and path.is_file():
        return CameraInput("file", spec)
    device_format = input_format or PLATFORM_FORMATS.get(platform)
    if device_format is None:
        raise MediaError(
            f"camera {spec}: no camera input known for this platform ({platform}); name "
            "one with --camera-format (an FFmpeg input device)"
        )
    target = spec
    if device_format == "v4l2" and spec.isdigit():
        target = f"/dev/video{spec}"
    elif device_format == "dshow" and not spec.startswith("video="):
        target = f"video={spec}"
    if device_format == "v4l2" and not Path(target).exists():
        raise MediaError(f"camera {spec}: no such file or camera device ({target})")
    return CameraInput("device", target, device_format, tuple(options))


class NewestFrame:
    """A slot for one frame: :meth:`put` replaces the frame waiting (counted as
    dropped), :meth:`take` waits for a frame not taken yet."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._frame: tuple[np.ndarray, float] | None = None
        self._ended = False
        self.dropped = 0
        self.received = 0

    def put(self, frame: np.ndarray, captured: float) -> None:
        with self._condition:
            if self._frame is not None:
                self.dropped += 1
            self._frame = (frame, captured)
            self.received += 1
            self._condition.notify()

    def end(self) -> None:
        """No more frames will come."""
        with self._condition:
            self._ended = True
            self._condition.notify()

    def take(self) -> tuple[np.ndarray, float] | None:
        """The newest frame and when it was captured (``time.monotonic``); None once
        the frames have ended. Waits in short steps, so that a signal is handled."""
        with self._condition:
            while self._frame is None and not self._ended:
                self._condition.wait(0.1)
            frame, self._frame = self._frame, None
            return frame


def _wait_until(due: float, stop: threading.Event) -> None:
    """Sleep in short steps until ``time.monotonic()`` reaches ``due`` or ``stop`` is set.
    The time left is read once per step: read twice, a busy machine could pass ``due``
    between the reads and ask ``time.sleep`` for a negative time (a ValueError)."""
    while not stop.is_set():
        left = due - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(0.01, left))


class Camera:
    """Decodes a :class:`CameraInput` in a thread into a :class:`NewestFrame` slot.

    Args:
        source: what to open; max_side: frames are scaled down (never up) so that
            their longer side is at most this many pixels (None: as they come).

    Iterate for ``(frame, captured)``: (H, W, 3) uint8 RGB and the ``time.monotonic``
    when it was decoded (a file's frame: when it was due). Use as a context manager.

    Raises:
        MediaError: the input cannot be opened (one line naming it).
    """

    def __init__(self, source: CameraInput, *, max_side: int | None = None):
        self.source = source
        self.max_side = max_side
        self.slot = NewestFrame()
        self._stop = threading.Event()
        self.error: str | None = None
        self.container = self._open()
        stream = self.container.streams.video
        if not stream:
            self.container.close()
            raise MediaError(f"camera {source.target}: has no video stream")
        self.stream = stream[0]
        self._thread = threading.Thread(target=self._decode, name="tpsmm-camera", daemon=True)
        self._thread.start()

    def _open(self) -> av.container.InputContainer:
        source = self.source
        while True:
            try:
                return av.open(
                    source.target,
                    format=source.format,
                    options=dict(source.options),
                    timeout=STREAM_TIMEOUT if source.kind == "stream" else None,
                )
            except InterruptedError:
                signals.raise_received()  # a signal while opening: raised; else retry
            except (av.error.FFmpegError, OSError) as error:
                reason = getattr(error, "strerror", None) or str(error)
                raise MediaError(f"camera {source.target}: cannot open ({reason})") from None

    def _decode(self) -> None:
        paced = self.source.kind == "file"
        started = first = None
        try:
            for frame in self.container.decode(self.stream):
                if self._stop.is_set():
                    break
                if paced and frame.time is not None:
                    if started is None:
                        started, first = time.monotonic(), frame.time
                    _wait_until(started + frame.time - first, self._stop)
                self.slot.put(self._pixels(frame), time.monotonic())
        except (av.error.FFmpegError, OSError) as error:
            self.error = f"camera {self.source.target}: stopped ({error})"
        finally:
            self.slot.end()

    def _pixels(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = frame.width, frame.height
        if self.max_side is not None and max(width, height) > self.max_side:
            ratio = self.max_side / max(width, height)
            width, height = max(2, round(width * ratio)), max(2, round(height * ratio))
        return frame.to_ndarray(width=width, height=height, format="rgb24")

    @property
    def rate(self) -> float | None:
        """The frame rate the input states (None when it states none)."""
        rate = self.stream.average_rate or self.stream.guessed_rate
        return float(rate) if rate else None

    def __iter__(self) -> Iterator[tuple[np.ndarray, float]]:
        while True:
            item = self.slot.take()
            if item is None:
                return
            yield item

    def close(self) -> None:
        """Stop decoding (the thread ends at its next frame)."""
        self._stop.set()
        self._thread.join(timeout=1.0)
        if not self._thread.is_alive():
            self.container.close()

    def __enter__(self) -> Camera:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
