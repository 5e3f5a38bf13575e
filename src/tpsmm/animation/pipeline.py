"""The animation job, streaming: decode -> fit -> animate in batches -> encode.

>>> model = load_animation_model("vox.pth.tar")
>>> summary = animate_video(model, "face.png", "talk.mp4", "out.mp4")

:class:`VideoAnimator` does the per-source work once (fitting the image, its keypoints,
its encoder features) and then streams any number of driving videos through the model,
``batch_size`` frames at a time; :func:`animate_video` is the one-call form.

Memory does not depend on the length of the video: at any time the job holds one batch
of decoded frames (at the video's size), the same batch fitted to the model's size, its
animated frames, and the encoder's small look-ahead. ``find_best_frame`` reads the video
twice (landmarks first, then the animation) and keeps only the best frame in between:
the networks keep no state between frames, so the authors' backward and forward halves,
joined, equal one pass in order with the best frame as the relative mode's reference
(see :mod:`tpsmm.animation.best_frame`).

Everything is validated before the output is created (the modes, the source image, the
first driving frame, the output type, the face in the source); the writer renames its
temporary output into place only at the end, so a failure leaves no output behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from tpsmm.animation.backend import AnimationBackend, as_backend
from tpsmm.animation.best_frame import BestFrame, default_landmarks, find_best_frame
from tpsmm.animation.keypoints import check_mode
from tpsmm.checkpoint import load_model
from tpsmm.errors import MediaError, TPSMMError
from tpsmm.faces import LandmarkFunction
from tpsmm.media import (
    DEFAULT_FIT_MODE,
    FrameFitter,
    VideoReader,
    VideoWriter,
    check_fit_mode,
    check_output,
    fit_frame,
    load_image,
    to_uint8,
)
from tpsmm.model import TPSMM

#: ``auto`` picks CUDA when a GPU is available, else the CPU.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}

SourceInput = str | os.PathLike | np.ndarray
DrivingInput = str | os.PathLike | VideoReader
#: Called as ``on_progress(stage, done, total)`` when a pass starts (``done`` 0) and after
#: each batch: ``stage`` is ``"best frame"`` or ``"animate"``, ``done`` the frames of that
#: pass so far, ``total`` the frames it will take (None when the container does not say).
#: An exception it raises stops the job (the partial output is removed).
ProgressCallback = Callable[[str, int, "int | None"], None]


# Model ---------------------------------------------------------------------------------


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """A torch device for ``auto``, ``cpu``, ``cuda`` (``cuda:N``) or ``mps``.

    Raises:
        TPSMMError: an unknown name, or a device this machine does not have.
    """
    if isinstance(name, torch.device):
        return name
    kind = name.split(":", 1)[0]
    if kind not in DEVICES or (kind == "auto" and name != "auto"):
        raise TPSMMError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    if kind == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if kind == "cuda" and not torch.cuda.is_available():
        raise TPSMMError("device cuda: no CUDA GPU is available here (use --device cpu)")
    if kind == "mps" and not torch.backends.mps.is_available():
        raise TPSMMError("device mps: Apple's Metal backend is not available here")
    try:
        return torch.device(name)
    except RuntimeError:
        raise TPSMMError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}") from None


def resolve_dtype(name: str | torch.dtype = "float32") -> torch.dtype:
    """``float32``, ``bfloat16`` or ``float16`` as a torch dtype (one-line error otherwise)."""
    if isinstance(name, torch.dtype):
        return name
    if name not in DTYPES:
        raise TPSMMError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    return DTYPES[name]


def load_animation_model(
    checkpoint: str | os.PathLike,
    config: Any = None,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "float32",
) -> TPSMM:
    """Load a checkpoint for animation: float32 weights, then moved to ``device`` and
    cast to ``dtype``, in eval mode.

    Args:
        checkpoint: the authors' ``.pth.tar`` or a tpsmm checkpoint.
        config: preset name, YAML path or Config; None for the file's own.
        device: see :func:`resolve_device`; dtype: see :data:`DTYPES`.

    Raises:
        TPSMMError: bad device or dtype; CheckpointError / ConfigError for the files.
    """
    target_device = resolve_device(device)
    target_dtype = resolve_dtype(dtype)
    model = load_model(checkpoint, config, device="cpu")
    return model.to(device=target_device, dtype=target_dtype).eval()


# Inputs --------------------------------------------------------------------------------


def check_positive(value: int | None, what: str) -> int | None:
    """``value`` if it is None or at least 1, else a one-line error naming ``what``."""
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if value is not None and (not whole or value < 1):
        raise TPSMMError(f"{what} must be a positive whole number, got {value!r}")
    return value


def check_inputs(source: SourceInput, driving: DrivingInput, output: str | os.PathLike) -> None:
    """Fail early, before any slow work: the source image reads, the driving video has a
    decodable first frame, the output type is known, its folder exists, and it
    overwrites neither input.

    Raises:
        MediaError: naming the file and the problem.
    """
    check_output(output)
    if not isinstance(source, np.ndarray):
        load_image(source)
    with _open_driving(driving) as reader:
        refuse_overwriting_inputs(output, source, reader.path)


def refuse_overwriting_inputs(
    output: str | os.PathLike, source: SourceInput | None, driving: str | os.PathLike
) -> None:
    """Raise MediaError when ``output`` names the source image or the driving video."""
    target = Path(output).resolve()
    if target == Path(driving).resolve():
        raise MediaError(f"{output}: the output would overwrite the driving video")
    if isinstance(source, str | os.PathLike) and target == Path(source).resolve():
        raise MediaError(f"{output}: the output would overwrite the source image")


def _open_driving(driving: DrivingInput) -> contextlib.AbstractContextManager[VideoReader]:
    """A context giving a reader whose first frame decoded; closes it only if opened here."""
    if isinstance(driving, VideoReader):
        driving.check()
        return contextlib.nullcontext(driving)
    return VideoReader(driving, check=True)


def expected_frames(reader: VideoReader, max_frames: int | None) -> int | None:
    """How many frames the job will animate, when the container says (for the bar)."""
    total = reader.num_frames
    if max_frames is None:
        return total
    return max_frames if total is None else min(total, max_frames)


class FrameProgress:
    """Counts the frames of one pass for a tqdm bar on stderr (frames per second) and an
    optional callback.

    Args:
        stage: the pass's name (the bar's label and the callback's first argument).
        total: frames the pass will take, or None when unknown.
        bar: show the tqdm bar; on_progress: see :data:`ProgressCallback`.
    """

    def __init__(
        self,
        stage: str,
        total: int | None,
        *,
        bar: bool = False,
        on_progress: ProgressCallback | None = None,
    ):
        self.stage, self.total, self.done = stage, total, 0
        self.on_progress = on_progress
        self.bar = tqdm(
            total=total,
            desc=stage,
            unit="frame",
            file=sys.stderr,
            disable=not bar,
            dynamic_ncols=True,
        )

    def __enter__(self) -> FrameProgress:
        if self.on_progress is not None:
            self.on_progress(self.stage, 0, self.total)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.bar.close()

    def update(self, frames: int) -> None:
        """``frames`` more frames are done."""
        self.done += frames
        self.bar.update(frames)
        if self.on_progress is not None:
            self.on_progress(self.stage, self.done, self.total)


def side_by_side_frames(source: np.ndarray, driving: np.ndarray, result: np.ndarray) -> np.ndarray:
    """source | driving | result for a batch.

    Args:
        source: (S, S, 3) uint8; driving, result: (B, S, S, 3) uint8.

    Returns:
        (B, S, 3S, 3) uint8.
    """
    sources = np.broadcast_to(source, driving.shape)
    return np.concatenate([sources, driving, result], axis=2)


# The job -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnimationSummary:
    """What :meth:`VideoAnimator.write` wrote.

    Attributes:
        output: the output path; frames: frames written; size: (width, height) of each.
        frame_rate: the output's exact rate (the driving video's).
        audio: whether the driving video's audio was carried over.
        best_frame: the reference frame chosen by ``find_best_frame``, else None.
        seconds: wall time of the animation pass (the best-frame search excluded).
    """

    output: Path
    frames: int
    size: tuple[int, int]
    frame_rate: Fraction
    audio: bool
    best_frame: int | None
    seconds: float

    @property
    def frames_per_second(self) -> float:
        """Animation throughput (frames per wall-clock second)."""
        return self.frames / self.seconds if self.seconds > 0 else float("inf")

    def describe(self) -> str:
        """One line for the command line."""
        return f"wrote {self.output}: {self.details()}"

    def details(self) -> str:
        """``169 frames, 256x256 at 25 fps, with audio, 9.80 frames/s``."""
        width, height = self.size
        parts = [
            f"{self.frames} frames, {width}x{height} at {float(self.frame_rate):g} fps",
            "with audio" if self.audio else "no audio",
        ]
        if self.best_frame is not None:
            parts.append(f"best frame {self.best_frame}")
        parts.append(f"{self.frames_per_second:.2f} frames/s")
        return ", ".join(parts)


class VideoAnimator:
    """Animates one source image by driving videos, streaming, in constant memory.

    Args:
        model: a loaded :class:`TPSMM` (its device and dtype are used), or another
            :class:`tpsmm.animation.backend.AnimationBackend` (the onnxruntime one:
            :func:`tpsmm.load_onnx`).
        source: an image path, or an (H, W, 3) uint8 RGB array of any size.
        mode: ``relative`` | ``standard`` | ``avd`` (see :data:`tpsmm.MODES`).
        fit: how frames of another shape reach the model's square size:
            ``crop`` | ``pad`` | ``stretch`` (see :mod:`tpsmm.media.fit`).
        batch_size: driving frames per forward pass; None: the backend's default
            (:func:`tpsmm.animation.backend.default_batch_size` of its device).
        background: place the background by the background predictor (off, as the
            authors animate).

    Attributes:
        size: the model's frame size S; source: the fitted source, (S, S, 3) uint8.

    Raises:
        TPSMMError: an unknown mode or fit, avd mode without an AVD network, or a
            source that is not a readable image (MediaError).
    """

    def __init__(
        self,
        model: TPSMM | AnimationBackend,
        source: SourceInput,
        *,
        mode: str = "relative",
        fit: str = DEFAULT_FIT_MODE,
        batch_size: int | None = None,
        background: bool = False,
    ):
        self.model = model
        self.backend = as_backend(model)
        self.mode = check_mode(mode)
        self.fit = check_fit_mode(fit)
        self.batch_size = (
            check_positive(batch_size, "batch size") or self.backend.default_batch_size()
        )
        self.size = self.backend.frame_size
        if isinstance(source, np.ndarray):
            image, self.source_path, self.source_name = source, None, "source image"
        else:
            image = load_image(source)
            self.source_path, self.source_name = Path(source), str(source)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise TPSMMError(f"source image must be (H, W, 3) uint8, got {image.shape}")
        self.source = fit_frame(image, self.size, self.fit)
        self.animator = self.backend.animator(self.source, self.mode, background=background)

    def driving_batches(
        self, reader: VideoReader, max_frames: int | None = None
    ) -> Iterator[np.ndarray]:
        """Driving frames fitted to the model: (B, S, S, 3) uint8 batches, from the first."""
        fitter = FrameFitter(reader.size, self.size, self.fit)
        for batch in reader.read_batches(self.batch_size, max_frames):
            yield fitter.fit_batch(batch)

    def animate_batch(self, frames: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 driving frames -> (B, S, S, 3) uint8 animated frames.

        The first frame since :meth:`reset` is the relative mode's reference unless
        :meth:`set_reference` chose one.
        """
        return to_uint8(self.animator.animate(frames))

    def reset(self, reference: np.ndarray | None = None) -> None:
        """Start a new driving video; ``reference`` (S, S, 3) uint8 is the relative mode's
        reference frame (default: the first frame animated)."""
        self.animator.reset()
        if reference is not None:
            self.animator.set_reference(reference)

    def stream(
        self,
        driving: DrivingInput,
        *,
        max_frames: int | None = None,
        reference: np.ndarray | None = None,
        side_by_side: bool = False,
    ) -> Iterator[np.ndarray]:
        """Animated frames of a driving video, batch by batch.

        Args:
            driving: a video path, a folder of frames, or an open :class:`VideoReader`.
            max_frames: animate at most this many frames from the start.
            reference: the relative mode's reference frame, (S, S, 3) uint8 as fitted;
                default: the first driving frame.
            side_by_side: yield source | driving | result.

        Yields:
            (B, S, S, 3) uint8 batches, or (B, S, 3S, 3) side by side.
        """
        check_positive(max_frames, "max frames")
        with _open_driving(driving) as reader:
            self.reset(reference)
            for frames in self.driving_batches(reader, max_frames):
                result = self.animate_batch(frames)
                yield side_by_side_frames(self.source, frames, result) if side_by_side else result

    def best_frame(
        self,
        driving: DrivingInput,
        *,
        landmarks: LandmarkFunction | None = None,
        max_frames: int | None = None,
        progress: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> BestFrame:
        """The driving frame whose face best matches the source's (one pass over the
        video; only the best frame is kept). See :func:`find_best_frame`.

        Raises:
            TPSMMError: the ``eval`` extra is missing, or the source has no face.
        """
        landmarks = landmarks if landmarks is not None else default_landmarks()
        with _open_driving(driving) as reader:
            total = expected_frames(reader, max_frames)
            with FrameProgress("best frame", total, bar=progress, on_progress=on_progress) as bar:
                return find_best_frame(
                    self.source,
                    _counted(self.driving_batches(reader, max_frames), bar),
                    landmarks,
                    source_name=self.source_name,
                )

    def write(
        self,
        driving: DrivingInput,
        output: str | os.PathLike,
        *,
        side_by_side: bool = False,
        find_best_frame: bool = False,
        max_frames: int | None = None,
        landmarks: LandmarkFunction | None = None,
        progress: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> AnimationSummary:
        """Animate a driving video into ``output``, streaming.

        Args:
            driving: a video path, a folder of frames, or an open :class:`VideoReader`.
            output: ``.mp4``/``.mov``/``.mkv`` (H.264 at the driving video's exact frame
                rate, its audio carried over), ``.gif``, or a folder for PNG frames.
            side_by_side: write source | driving | result (each S x S).
            find_best_frame: use the driving frame whose face best matches the source as
                the relative mode's reference (needs the ``eval`` extra unless
                ``landmarks`` is given).
            max_frames: animate at most this many frames from the start.
            landmarks: face landmark function for ``find_best_frame``.
            progress: show a progress bar with frames per second on stderr.
            on_progress: told the frames done after each batch, per pass (see
                :data:`ProgressCallback`); what a web page's progress bar follows.

        Raises:
            TPSMMError (MediaError, ...): a bad input or output, found before the output
                is created; a failure later removes the partial output.
        """
        check_positive(max_frames, "max frames")
        check_output(output)
        with _open_driving(driving) as reader:
            refuse_overwriting_inputs(output, self.source_path, reader.path)
            best = None
            if find_best_frame:
                best = self.best_frame(
                    reader,
                    landmarks=landmarks,
                    max_frames=max_frames,
                    progress=progress,
                    on_progress=on_progress,
                )
            audio_from = reader.path if reader.has_audio else None
            total = expected_frames(reader, max_frames)
            started = time.perf_counter()
            with (
                VideoWriter(output, reader.frame_rate, audio_from=audio_from) as writer,
                FrameProgress("animate", total, bar=progress, on_progress=on_progress) as bar,
            ):
                for batch in self.stream(
                    reader,
                    max_frames=max_frames,
                    reference=best.frame if best is not None else None,
                    side_by_side=side_by_side,
                ):
                    writer.write_batch(batch)
                    bar.update(len(batch))
            seconds = time.perf_counter() - started
        assert writer.size is not None
        return AnimationSummary(
            output=Path(output),
            frames=writer.frames_written,
            size=writer.size,
            frame_rate=writer.frame_rate,
            audio=writer.has_audio,
            best_frame=best.index if best is not None else None,
            seconds=seconds,
        )


def _counted(batches: Iterator[np.ndarray], bar: FrameProgress) -> Iterator[np.ndarray]:
    """The frames of ``batches`` one by one, advancing ``bar`` per batch."""
    for batch in batches:
        yield from batch
        bar.update(len(batch))


def animate_video(
    model: TPSMM | AnimationBackend,
    source: SourceInput,
    driving: DrivingInput,
    output: str | os.PathLike,
    *,
    mode: str = "relative",
    fit: str = DEFAULT_FIT_MODE,
    batch_size: int | None = None,
    background: bool = False,
    side_by_side: bool = False,
    find_best_frame: bool = False,
    max_frames: int | None = None,
    progress: bool = False,
    landmarks: LandmarkFunction | None = None,
    on_progress: ProgressCallback | None = None,
) -> AnimationSummary:
    """Animate ``source`` by ``driving`` into ``output``, streaming, in constant memory.

    The one-call form of :class:`VideoAnimator` (see it and :meth:`VideoAnimator.write`
    for the arguments); what ``tpsmm animate`` runs, with either backend.
    """
    animator = VideoAnimator(
        model, source, mode=mode, fit=fit, batch_size=batch_size, background=background
    )
    return animator.write(
        driving,
        output,
        side_by_side=side_by_side,
        find_best_frame=find_best_frame,
        max_frames=max_frames,
        landmarks=landmarks,
        progress=progress,
        on_progress=on_progress,
    )
