"""The animation job's output: checked before any slow work (:func:`check_inputs`),
the animated batches written through a :class:`VideoWriter` (atomic: renamed into place
only at the end), and the :class:`AnimationSummary` of what was written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from tpsmm.animation.driving import DrivingInput, motion_of, open_driving
from tpsmm.animation.motion_file import Motion
from tpsmm.animation.progress import FrameProgress, ProgressCallback
from tpsmm.errors import MediaError
from tpsmm.media import VideoWriter, check_output, load_image


@dataclass(frozen=True)
class AnimationSummary:
    """What :meth:`VideoAnimator.write` wrote.

    Attributes:
        output: the output path; frames: frames written; size: (width, height) of each.
        frame_rate: the output's exact rate (the driving video's, as its timestamps
            show), or for a variable rate the average.
        duration: seconds from the first frame's start to the last frame's end (the
            driving video's, for the frames animated).
        variable_rate: whether the frames' intervals vary (kept from the driving video).
        audio: whether the driving video's audio was carried over.
        best_frame: the reference frame chosen by ``find_best_frame``, else None.
        seconds: wall time of the animation pass (the best-frame search excluded).
        runs_on: where and in what the model ran, ``float32 on cpu`` (its compute
            dtype, :attr:`TPSMM.compute_dtype`), ``... (onnxruntime)`` for that backend
            (:meth:`AnimationBackend.describe`).
    """

    output: Path
    frames: int
    size: tuple[int, int]
    frame_rate: Fraction
    audio: bool
    best_frame: int | None
    seconds: float
    runs_on: str
    duration: Fraction = Fraction(0)
    variable_rate: bool = False

    @property
    def frames_per_second(self) -> float:
        """Animation throughput (frames per wall-clock second)."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    def describe(self) -> str:
        """One line for the command line."""
        return f"wrote {self.output}: {self.details()}"

    def details(self) -> str:
        """``169 frames, 256x256 at 25 fps, 6.76 s long, with audio, 9.80 frames/s``."""
        width, height = self.size
        rate = f"{float(self.frame_rate):.4g} fps"
        rate = f"variable frame rate ({rate} on average)" if self.variable_rate else f"at {rate}"
        parts = [
            f"{self.frames} frames, {width}x{height} {rate}, {float(self.duration):.2f} s long",
            "with audio" if self.audio else "no audio",
        ]
        if self.best_frame is not None:
            parts.append(f"best frame {self.best_frame}")
        parts.append(f"{self.frames_per_second:.2f} frames/s")
        parts.append(self.runs_on)
        return ", ".join(parts)


def refuse_overwriting_inputs(
    output: str | os.PathLike,
    source: str | os.PathLike | np.ndarray | None,
    driving: str | os.PathLike | None,
) -> None:
    """Raise MediaError when ``output`` names the source image or the driving input."""
    target = Path(output).resolve()
    if driving is not None and target == Path(driving).resolve():
        raise MediaError(f"{output}: the output would overwrite the driving video")
    if isinstance(source, str | os.PathLike) and target == Path(source).resolve():
        raise MediaError(f"{output}: the output would overwrite the source image")


def write_animation(
    batches: Iterable[tuple[np.ndarray, list[Fraction] | None]],
    writer: VideoWriter,
    *,
    expected: int | None,
    runs_on: str,
    best_frame: int | None = None,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> AnimationSummary:
    """Write timed output batches ``(frames, times)`` through ``writer`` (closed at the
    end, or aborted by an exception) and say what was written.

    Args:
        expected: frames the pass will take (for the bar), or None.
        runs_on: :attr:`AnimationSummary.runs_on`; best_frame: the reference chosen.
        progress, on_progress: the ``animate`` pass's bar and callback.
    """
    started = time.perf_counter()
    with (
        writer,
        FrameProgress("animate", expected, bar=progress, on_progress=on_progress) as bar,
    ):
        for frames, times in batches:
            writer.write_batch(frames, times)
            bar.update(len(frames))
    seconds = time.perf_counter() - started
    assert writer.size is not None
    return AnimationSummary(
        output=writer.path,
        frames=writer.frames_written,
        size=writer.size,
        frame_rate=writer.average_rate,
        audio=writer.has_audio,
        best_frame=best_frame,
        seconds=seconds,
        runs_on=runs_on,
        duration=writer.duration,
        variable_rate=writer.variable_rate,
    )


def check_inputs(
    source: str | os.PathLike | np.ndarray,
    driving: DrivingInput | Motion,
    output: str | os.PathLike,
) -> None:
    """Fail early, before any slow work: the source image reads, the driving video has a
    decodable first frame (or the motion file reads), the output type is known, its
    folder exists, and it overwrites neither input.

    Raises:
        MediaError: naming the file and the problem (TPSMMError for a motion file).
    """
    check_output(output)
    if not isinstance(source, np.ndarray):
        load_image(source)
    if motion_of(driving) is not None:
        driving_path = None if isinstance(driving, Motion) else Path(os.fspath(driving))
        refuse_overwriting_inputs(output, source, driving_path)
        return
    with open_driving(driving) as reader:
        refuse_overwriting_inputs(output, source, reader.path)
