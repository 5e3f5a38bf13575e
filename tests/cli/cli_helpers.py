"""Helpers for the animation job's tests: generated videos, the tiny model, running the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

import tpsmm
from timing_helpers import write_tone
from tiny_model import TINY_FRAME_SIZE

ASSETS = Path(tpsmm.__file__).resolve().parent / "assets"
SAMPLE_SOURCE = ASSETS / "source.png"
SAMPLE_DRIVING = ASSETS / "driving.mp4"

TINY_SIZE = TINY_FRAME_SIZE

# The `tpsmm` command in a fresh interpreter (the console script may not be on PATH).
CLI_CODE = "import sys, tpsmm.cli as c; sys.exit(c.main(sys.argv[1:]))"


def sample_job(checkpoint: object, output: object) -> list[object]:
    """``tpsmm animate`` arguments that animate the bundled sample into ``output``, in
    float32: the tests compare the frames with float32 ``tpsmm.animate``, and the default
    ``--dtype auto`` takes bfloat16 on a CPU with AVX-512 BF16 or AMX."""
    return [
        "animate",
        "--source", SAMPLE_SOURCE,
        "--driving", SAMPLE_DRIVING,
        "--checkpoint", checkpoint,
        "--output", output,
        "--dtype", "float32",
    ]  # fmt: skip


def pattern_frame(index: int, size: tuple[int, int] = (TINY_SIZE, TINY_SIZE)) -> np.ndarray:
    """An (H, W, 3) uint8 frame: a bright square moving over a gradient, ``index`` in the
    top-left pixel's red channel (exact in lossless outputs)."""
    width, height = size
    ys, xs = np.mgrid[0:height, 0:width]
    frame = np.stack(
        [xs * 255 // max(width - 1, 1), ys * 255 // max(height - 1, 1), xs * 0 + 90], -1
    )
    frame = frame.astype(np.uint8)
    side = max(width // 4, 2)
    x = (index * 3) % max(width - side, 1)
    y = (index * 2) % max(height - side, 1)
    frame[y : y + side, x : x + side] = 230
    frame[0, 0, 0] = index % 256
    return frame


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: Fraction = Fraction(25),
    audio: bool = False,
) -> Path:
    """Write frames (an iterable, so long videos are never held in memory) as H.264, with
    an AAC tone when ``audio``."""
    with av.open(str(path), "w") as container:
        stream = None
        count = 0
        for frame in frames:
            if stream is None:
                stream = container.add_stream("libx264", rate=fps, time_base=1 / fps)
                stream.width, stream.height = frame.shape[1], frame.shape[0]
                stream.pix_fmt = "yuv420p"
                stream.options = {"preset": "ultrafast"}
                audio_stream = _add_audio(container) if audio else None
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = count, 1 / fps
            container.mux(stream.encode(video_frame))
            count += 1
        assert stream is not None, "no frames"
        container.mux(stream.encode(None))
        if audio_stream is not None:
            write_tone(container, audio_stream, count / fps)
    return path


def _add_audio(container: av.container.OutputContainer):
    stream = container.add_stream("aac", rate=16000, time_base=Fraction(1, 16000))
    stream.layout = "mono"
    return stream


def write_png_folder(folder: Path, frames: Iterable[np.ndarray]) -> Path:
    """Frames as a lossless folder 000000.png, 000001.png, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index:06d}.png")
    return folder


def read_png_folder(folder: Path) -> np.ndarray:
    """(T, H, W, 3) uint8 frames of a PNG folder written by the job."""
    files = sorted(folder.glob("*.png"))
    return np.stack([np.asarray(Image.open(file).convert("RGB")) for file in files])


def leftovers(folder: Path) -> list[str]:
    """Names in ``folder`` (hidden partial outputs included)."""
    return sorted(entry.name for entry in folder.iterdir())


def run_cli_subprocess(
    args: Iterable[object], *, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``tpsmm ARGS`` in a fresh interpreter (for memory and environment tests)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", CLI_CODE, *map(str, args)],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=600,
    )
