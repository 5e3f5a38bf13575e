"""Synthetic media for the media tests, generated with PyAV (no downloads)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ASSETS = Path(__file__).resolve().parents[2] / "src" / "tpsmm" / "assets"
SOURCE_PNG = ASSETS / "source.png"
DRIVING_MP4 = ASSETS / "driving.mp4"


def grey_frame(index: int, size: tuple[int, int] = (64, 48)) -> np.ndarray:
    """An (H, W, 3) uint8 frame of uniform grey level 20 + 20 * index (mod 240)."""
    width, height = size
    return np.full((height, width, 3), 20 + (20 * index) % 220, dtype=np.uint8)


def frame_level(frame: np.ndarray) -> float:
    """The mean pixel value of a frame (to identify grey frames after lossy coding)."""
    return float(frame.mean())


def grey_levels(frames: list[np.ndarray] | np.ndarray) -> list[int]:
    """The index (into :func:`grey_frame`) of each frame's grey level, rounded to the
    nearest multiple of 20 (after lossy coding)."""
    return [round((frame_level(frame) - 20) / 20) for frame in frames]


def make_video(
    path: Path,
    num_frames: int = 10,
    *,
    size: tuple[int, int] = (64, 48),
    fps: Fraction = Fraction(25),
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    audio: str | None = None,
    audio_seconds: float | None = None,
    rotation: int | None = None,
    frames: list[np.ndarray] | None = None,
) -> Path:
    """Write a small test video of grey frames (or ``frames``), optionally with a sine
    tone encoded with the ``audio`` codec (mono, 16 kHz) lasting ``audio_seconds``
    (default: the video's duration)."""
    frames = frames if frames is not None else [grey_frame(i, size) for i in range(num_frames)]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, time_base=1 / fps)
        stream.width, stream.height = frames[0].shape[1], frames[0].shape[0]
        stream.pix_fmt = pix_fmt
        if rotation is not None:
            stream.set_display_rotation(rotation)
        audio_stream = None
        if audio is not None:
            audio_stream = container.add_stream(audio, rate=16000, time_base=Fraction(1, 16000))
            audio_stream.layout = "mono"
        for index, frame in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = index, 1 / fps
            container.mux(stream.encode(video_frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            seconds = audio_seconds if audio_seconds is not None else len(frames) / fps
            _write_tone(container, audio_stream, float(seconds))
    return path


def _write_tone(container: av.container.OutputContainer, stream, seconds: float) -> None:
    total = round(seconds * 16000)
    times = np.arange(total) / 16000
    samples = (np.sin(2 * np.pi * 440 * times) * 8000).astype(np.int16)
    for start in range(0, total, 800):
        chunk = samples[None, start : start + 800]
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, start, Fraction(1, 16000)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def make_audio_only(path: Path, seconds: float = 0.5) -> Path:
    """Write a file with one audio stream and no video (e.g. ``.m4a`` or ``.wav``)."""
    codec = "pcm_s16le" if path.suffix == ".wav" else "aac"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=16000, time_base=Fraction(1, 16000))
        stream.layout = "mono"
        _write_tone(container, stream, seconds)
    return path


def stream_info(path: Path) -> dict[str, dict[str, object]]:
    """Per stream type: codec name, duration in seconds, frame count, average rate."""
    info: dict[str, dict[str, object]] = {}
    with av.open(str(path)) as container:
        for stream in container.streams:
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            info[stream.type] = {
                "codec": stream.codec_context.name,
                "duration": duration,
                "frames": stream.frames,
                "rate": getattr(stream, "average_rate", None),
            }
        info["container"] = {"duration": (container.duration or 0) / 1e6}
    return info
