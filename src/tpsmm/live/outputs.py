"""Where ``tpsmm live`` sends its frames: a virtual camera (for video calls) and a
recording with the frames' real times."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from tpsmm.errors import TPSMMError
from tpsmm.extras import installed
from tpsmm.media import VideoWriter

#: The message when the ``live`` extra (pyvirtualcam) is missing.
LIVE_EXTRA_MISSING = "--virtual-camera needs the live extra: pip install 'tpsmm[live]'"
#: Recordings store times in milliseconds; their stated rate is the camera's.
RECORDING_TIME_BASE = Fraction(1, 1000)
DEFAULT_RATE = 30


def check_virtual_camera_extra() -> None:
    """A one-line TPSMMError when pyvirtualcam is not installed."""
    if not installed("pyvirtualcam"):
        raise TPSMMError(LIVE_EXTRA_MISSING)


class VirtualCamera:
    """A virtual camera that video-call programs can pick (pyvirtualcam: v4l2loopback
    on Linux, OBS's virtual camera on Windows and macOS), fed RGB frames of ``size``.

    Raises:
        TPSMMError: pyvirtualcam is missing, or no virtual camera device is there.
    """

    def __init__(self, size: int, fps: float):
        check_virtual_camera_extra()
        import pyvirtualcam

        try:
            self.camera = pyvirtualcam.Camera(
                width=size, height=size, fps=fps, fmt=pyvirtualcam.PixelFormat.RGB
            )
        except (RuntimeError, ValueError, OSError) as error:
            raise TPSMMError(
                f"no virtual camera to send to ({str(error).splitlines()[0]}); on Linux "
                "load v4l2loopback, elsewhere install OBS's virtual camera"
            ) from None

    @property
    def device(self) -> str:
        return str(self.camera.device)

    def send(self, frame: np.ndarray) -> None:
        """Show (S, S, 3) uint8 RGB."""
        self.camera.send(frame)

    def close(self) -> None:
        self.camera.close()


class Recording:
    """The animated frames written to ``path`` (any output of ``tpsmm animate``) at
    the times they were made, in milliseconds, so the recording plays as it was seen;
    the output appears only when :meth:`close` finishes it (tpsmm.media's writer)."""

    def __init__(self, path: Path, fps: float | None):
        self.path = path
        self.writer = VideoWriter(
            path,
            Fraction(fps or DEFAULT_RATE).limit_denominator(1001),
            time_base=RECORDING_TIME_BASE,
            variable_rate=True,
        )
        self.first: float | None = None
        self.saved = False  # whether close() put the file in place

    @property
    def frames(self) -> int:
        return self.writer.frames_written

    def write(self, frame: np.ndarray, made: float) -> None:
        """Add (S, S, 3) uint8, made at ``made`` seconds (any clock)."""
        if self.first is None:
            self.first = made
        self.writer.write(frame, Fraction(made - self.first).limit_denominator(1000))

    def close(self) -> None:
        """Finish the file (nothing is left when no frame was written)."""
        if self.frames:
            self.writer.close()
            self.saved = True
        else:
            self.writer.abort()

    def abort(self) -> None:
        self.writer.abort()
