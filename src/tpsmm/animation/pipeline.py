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

Timing: each output frame keeps its driving frame's timestamp, so the result lasts as
long as the driving video and its audio stays in sync, variable frame rates included; a
folder of frames as the driving video has ``folder_fps`` frames per second (default 25).

Everything is validated before the output is created (the modes, the source image, the
first driving frame, the output type, the face in the source); the writer renames its
temporary output into place only at the end, so a failure leaves no output behind.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from tpsmm.animation.animator import frames_to_tensor, tensor_to_frames
from tpsmm.animation.backend import (
    AnimationBackend,
    as_backend,
    default_batch_size,
    keypoints_need_torch,
)
from tpsmm.animation.best_frame import BestFrame, default_landmarks, find_best_frame
from tpsmm.animation.keypoints import check_mode
from tpsmm.animation.motion_file import (
    Motion,
    extract_audio,
    is_motion_file,
    keypoint_detector_digest,
    load_motion,
)
from tpsmm.animation.paste import PasteBack
from tpsmm.checkpoint import load_model
from tpsmm.errors import MediaError, TPSMMError
from tpsmm.faces import LandmarkFunction
from tpsmm.faces.crop import CropBox, crop_for_pose, crop_frame, fit_inside
from tpsmm.faces.tracking import (
    SMOOTHING_SECONDS,
    FaceFinder,
    default_finder,
    find_face,
    track_faces,
)
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
from tpsmm.media.fit import resize_box
from tpsmm.model import TPSMM
from tpsmm.runtime import resolve_device, resolve_precision, warn_if_slow

#: Called as ``on_progress(stage, done, total)`` when a pass starts (``done`` 0) and after
#: each batch: ``stage`` is ``"face"``, ``"best frame"``, ``"motion"`` or ``"animate"``, ``done`` the frames of that
#: pass so far, ``total`` the frames it will take (None when the container does not say).
#: An exception it raises stops the job (the partial output is removed).
ProgressCallback = Callable[[str, int, "int | None"], None]

SourceInput = str | os.PathLike | np.ndarray
DrivingInput = str | os.PathLike | VideoReader


# Model ---------------------------------------------------------------------------------


def load_animation_model(
    checkpoint: str | os.PathLike,
    config: Any = None,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype | None = "auto",
) -> TPSMM:
    """Load a checkpoint for animation on ``device`` in ``dtype``, in eval mode: the
    policy of :mod:`tpsmm.runtime`, the same for the command line and the API.

    Args:
        checkpoint: the authors' ``.pth.tar`` or a tpsmm checkpoint.
        config: preset name, YAML path or Config; None for the file's own.
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps`` or a torch device
            (:func:`tpsmm.runtime.resolve_device`).
        dtype: ``auto``, ``float32``, ``bfloat16``, ``float16`` or a torch dtype
            (:func:`tpsmm.runtime.resolve_precision`); reduced precision goes through
            :meth:`TPSMM.set_compute_dtype` (keypoints, background, AVD and geometry stay
            float32). An explicit reduced precision that the device only emulates issues
            a :class:`tpsmm.runtime.SlowPrecisionWarning` before the weights load.

    Raises:
        TPSMMError: bad device or dtype; CheckpointError / ConfigError for the files.
    """
    target = resolve_device(device)
    precision = resolve_precision(dtype, target)
    warn_if_slow(precision, target)
    model = load_model(checkpoint, config, device=target)
    return model.set_compute_dtype(precision.dtype).eval()


# Inputs --------------------------------------------------------------------------------


def check_positive(value: int | None, what: str) -> int | None:
    """``value`` if it is None or at least 1, else a one-line error naming ``what``."""
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if value is not None and (not whole or value < 1):
        raise TPSMMError(f"{what} must be a positive whole number, got {value!r}")
    return value


def check_inputs(
    source: SourceInput, driving: DrivingInput | Motion, output: str | os.PathLike
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
    if _motion_of(driving) is not None:
        driving_path = None if isinstance(driving, Motion) else Path(os.fspath(driving))
        refuse_overwriting_inputs(output, source, driving_path)
        return
    with _open_driving(driving) as reader:
        refuse_overwriting_inputs(output, source, reader.path)


def refuse_overwriting_inputs(
    output: str | os.PathLike, source: SourceInput | None, driving: str | os.PathLike | None
) -> None:
    """Raise MediaError when ``output`` names the source image or the driving input."""
    target = Path(output).resolve()
    if driving is not None and target == Path(driving).resolve():
        raise MediaError(f"{output}: the output would overwrite the driving video")
    if isinstance(source, str | os.PathLike) and target == Path(source).resolve():
        raise MediaError(f"{output}: the output would overwrite the source image")


def _open_driving(
    driving: DrivingInput, folder_fps: float | Fraction | None = None
) -> contextlib.AbstractContextManager[VideoReader]:
    """A context giving a reader whose first frame decoded (a folder of frames at
    ``folder_fps``, default 25); closes it only if opened here."""
    if isinstance(driving, VideoReader):
        driving.check()
        return contextlib.nullcontext(driving)
    return VideoReader(driving, fps=folder_fps, check=True)


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


@dataclass(frozen=True)
class DrivingBatch:
    """One batch of driving input for the model.

    Attributes:
        frames: (B, S, S, 3) uint8 driving frames at the model's size, or None (a
            motion file has keypoints instead).
        keypoints: (B, K*5, 2) float32 driving keypoints from a motion file, or None.
        originals: (B, H, W, 3) uint8 frames as decoded, kept only when the output
            shows them (side by side with ``paste_back``).
        times: each frame's time in seconds since the first driving frame, or None
            (a motion file without times: one frame interval apart).
    """

    frames: np.ndarray | None
    keypoints: np.ndarray | None = None
    originals: np.ndarray | None = None
    times: list[Fraction] | None = None

    def __len__(self) -> int:
        data = self.frames if self.frames is not None else self.keypoints
        assert data is not None
        return len(data)


@dataclass
class DrivingWork:
    """What was computed for one driving video: its batches' keypoints (in order) and,
    with ``crop_face``, its face crops by ``max_frames``."""

    keypoints: list[torch.Tensor] = field(default_factory=list)
    boxes: dict[int | None, np.ndarray] = field(default_factory=dict)


class DrivingCache:
    """Work on driving videos kept for the next source a video animates: rows of
    ``--pairs`` that share a driving video detect its frames' keypoints (and track its
    face, with ``crop_face``) once.

    A video is known by its path, size and modification time together with the
    animator's fit, face crop settings, batch size and frame size, so what is reused is
    what the same video would give again (bit for bit). At most ``max_videos`` are kept
    (the least recently used go first); per frame a (K*5, 2) float tensor (400 bytes for
    vox) and a crop box. Use one instance per model.
    """

    def __init__(self, max_videos: int = 8):
        self.max_videos = max_videos
        self._videos: dict[tuple[Any, ...], DrivingWork] = {}

    def video(self, path: str | os.PathLike, setting: tuple[Any, ...]) -> DrivingWork:
        """The work done on a video so far (empty when new; fill it in)."""
        target = Path(path).resolve()
        stat = target.stat()
        key = (str(target), stat.st_size, stat.st_mtime_ns, *setting)
        work = self._videos.pop(key, None) or DrivingWork()
        self._videos[key] = work  # most recently used last
        while len(self._videos) > self.max_videos:
            del self._videos[next(iter(self._videos))]
        return work


class VideoAnimator:
    """Animates one source image by driving videos or motion files, streaming, in
    constant memory.

    Args:
        model: a loaded :class:`TPSMM` (its device and dtype are used), or another
            :class:`tpsmm.animation.backend.AnimationBackend` (the onnxruntime one:
            :func:`tpsmm.load_onnx`).
        source: an image path, or an (H, W, 3) uint8 RGB array of any size.
        mode: ``relative`` | ``standard`` | ``avd`` (see :data:`tpsmm.MODES`).
        fit: how frames of another shape reach the model's square size:
            ``crop`` | ``pad`` | ``stretch`` (see :mod:`tpsmm.media.fit`); not used for
            faces cropped by ``crop_face``.
        batch_size: driving frames per forward pass; None: the backend's default
            (:func:`tpsmm.animation.backend.default_batch_size` of its device).
        background: place the background by the background predictor (off, as the
            authors animate).
        motion_scale: the driving motion is multiplied by this (0 still, 1 as driven,
            above 1 exaggerated; see :func:`tpsmm.animation.keypoints.scale_motion`).
        crop_face: crop the source around its face and every driving frame around the
            face followed through the video (smoothed square crops with the authors'
            training margin; see :mod:`tpsmm.faces`). Needs the ``eval`` extra.
        paste_back: write the animated crop blended into the full-resolution source
            image (see :mod:`tpsmm.animation.paste`), at the source's size.
        smoothing: sigma of the face crops' smoothing over time, in seconds.
        finder: the face detector for ``crop_face`` (a :class:`FaceFinder` by default).
        driving_cache: keeps the work done on driving videos (keypoints, face crops)
            for other sources they animate (many pairs); None: computed every time.

    Attributes:
        size: the model's frame size S; source: the source as the model sees it,
            (S, S, 3) uint8; image: the full source image; source_rect: where
            ``source`` lies in ``image`` (l, t, r, b pixels).

    Raises:
        TPSMMError: an unknown mode or fit, avd mode without an AVD network, a
            source that is not a readable image (MediaError), no face in the source
            with ``crop_face``.
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
        motion_scale: float = 1.0,
        crop_face: bool = False,
        paste_back: bool = False,
        smoothing: float = SMOOTHING_SECONDS,
        finder: FaceFinder | None = None,
        driving_cache: DrivingCache | None = None,
    ):
        self.model = model
        self.driving_cache = driving_cache
        self.backend = as_backend(model)
        self.mode = check_mode(mode)
        self.fit = check_fit_mode(fit)
        self.batch_size = (
            check_positive(batch_size, "batch size") or self.backend.default_batch_size()
        )
        self.size = self.backend.frame_size
        self.crop_face = crop_face
        self.smoothing = float(smoothing)
        if isinstance(source, np.ndarray):
            image, self.source_path, self.source_name = source, None, "source image"
        else:
            image = load_image(source)
            self.source_path, self.source_name = Path(source), str(source)
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise TPSMMError(f"source image must be (H, W, 3) uint8, got {image.shape}")
        self.image = image
        self.finder = finder if finder is not None or not crop_face else default_finder()
        if crop_face:
            box = self._source_face_box(image)
            self.source_rect = box.bounds
            self.source = crop_frame(image, box, self.size)
        else:
            self.source_rect = fit_rect(image.shape[1], image.shape[0], self.fit)
            self.source = fit_frame(image, self.size, self.fit)
        self.paster = PasteBack(image, self.source_rect, self.size) if paste_back else None
        self.animator = self.backend.animator(
            self.source, self.mode, background=background, motion_scale=motion_scale
        )

    def _source_face_box(self, image: np.ndarray) -> CropBox:
        assert self.finder is not None
        pose = find_face(image, self.finder)
        if pose is None:
            raise TPSMMError(
                f"{self.source_name}: no face found in the source image (--crop-face "
                "needs a frontal face; crop the image yourself and leave out --crop-face)"
            )
        return fit_inside(crop_for_pose(pose), image.shape[1], image.shape[0])

    @property
    def output_size(self) -> tuple[int, int] | None:
        """(width, height) of the animated frames: the source's with ``paste_back``,
        else (S, S); side by side is wider."""
        return self.paster.output_size if self.paster is not None else (self.size, self.size)

    # Driving input ---------------------------------------------------------------------

    def face_boxes(
        self,
        reader: VideoReader,
        max_frames: int | None = None,
        progress: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> np.ndarray:
        """The smoothed face crop of every driving frame (see :func:`driving_face_boxes`)."""
        assert self.finder is not None
        return driving_face_boxes(
            reader, self.finder, self.smoothing, max_frames, progress, on_progress
        )

    def driving_batches(
        self,
        reader: VideoReader,
        max_frames: int | None = None,
        *,
        boxes: np.ndarray | None = None,
        keep_originals: bool = False,
    ) -> Iterator[DrivingBatch]:
        """Driving frames at the model's size (see :func:`driving_batches`)."""
        return driving_batches(
            reader,
            self.size,
            self.batch_size,
            fit=self.fit,
            boxes=boxes,
            max_frames=max_frames,
            keep_originals=keep_originals,
        )

    def motion_batches(
        self, motion: Motion, max_frames: int | None = None
    ) -> Iterator[DrivingBatch]:
        """The keypoints of a motion file, batch by batch."""
        end = motion.num_frames if max_frames is None else min(max_frames, motion.num_frames)
        times = motion.frame_times()
        for start in range(0, end, self.batch_size):
            stop = min(start + self.batch_size, end)
            part = times[start:stop] if times is not None else None
            yield DrivingBatch(None, keypoints=motion.keypoints[start:stop], times=part)

    # Animation -------------------------------------------------------------------------

    def animate_batch(
        self, frames: np.ndarray | DrivingBatch, keypoints: torch.Tensor | None = None
    ) -> np.ndarray:
        """Driving frames (B, S, S, 3) uint8, or a :class:`DrivingBatch` -> (B, S, S, 3)
        uint8 animated frames.

        The first frame since :meth:`reset` is the reference unless :meth:`reset` was
        given one. ``keypoints``: the frames' detected keypoints (B, K*5, 2) when already
        known (:class:`DrivingCache`).
        """
        batch = frames if isinstance(frames, DrivingBatch) else DrivingBatch(frames)
        if batch.keypoints is not None:
            kp = torch.from_numpy(np.ascontiguousarray(batch.keypoints))
            return to_uint8(tensor_to_frames(self.animator.animate_keypoints(kp)))
        return to_uint8(self.animator.animate(batch.frames, keypoints))

    def reset(
        self, reference: np.ndarray | None = None, reference_keypoints: np.ndarray | None = None
    ) -> None:
        """Start a new driving video; the reference is ``reference`` (S, S, 3) uint8, or
        the frame with ``reference_keypoints`` (K*5, 2), else the first frame animated."""
        self.animator.reset()
        if reference is not None:
            self.animator.set_reference(reference)
        elif reference_keypoints is not None:
            kp = torch.from_numpy(np.asarray(reference_keypoints, np.float32)[None])
            self.animator.set_reference_keypoints(kp)

    def compose(self, batch: DrivingBatch, result: np.ndarray, side_by_side: bool) -> np.ndarray:
        """The output frames for animated ``result`` (B, S, S, 3): pasted back into the
        source when ``paste_back``, side by side with the source and the driving input
        when asked (the driving frames, or the keypoints of a motion file)."""
        if self.paster is not None:
            result = self.paster.paste_batch(result)
        if not side_by_side:
            return result
        if self.paster is None:
            driving = (
                batch.frames if batch.frames is not None else keypoint_pictures(batch, self.size)
            )
            return side_by_side_frames(self.source, driving, result)
        height = self.image.shape[0]
        if batch.originals is not None:
            driving = np.stack([_scaled_to_height(frame, height) for frame in batch.originals])
        else:
            driving = np.stack(
                [_scaled_to_height(p, height) for p in keypoint_pictures(batch, self.size)]
            )
        sources = np.broadcast_to(self.image, result.shape)
        return np.concatenate([sources, driving, result], axis=2)

    def stream(
        self,
        driving: DrivingInput | Motion,
        *,
        max_frames: int | None = None,
        reference: np.ndarray | None = None,
        reference_index: int | None = None,
        side_by_side: bool = False,
        boxes: np.ndarray | None = None,
        folder_fps: float | Fraction | None = None,
    ) -> Iterator[np.ndarray]:
        """Animated frames of a driving video or motion file, batch by batch.

        Args:
            driving: a video path, a folder of frames, an open :class:`VideoReader`, a
                motion file's path or a loaded :class:`Motion`.
            max_frames: animate at most this many frames from the start.
            reference: the reference frame, (S, S, 3) uint8 as the model sees it;
                reference_index: the reference frame of a motion file; default: the
                first driving frame.
            side_by_side: yield source | driving | result.
            boxes: the face crops of the driving frames (:meth:`face_boxes`; computed
                here when ``crop_face`` and not given).
            folder_fps: the frame rate of a folder of frames (default 25).

        Yields:
            (B, S, S, 3) uint8 batches, (B, H, W, 3) with ``paste_back``; side by side
            three panels wide.
        """
        for frames, _ in self.timed_stream(
            driving,
            max_frames=max_frames,
            reference=reference,
            reference_index=reference_index,
            side_by_side=side_by_side,
            boxes=boxes,
            folder_fps=folder_fps,
        ):
            yield frames

    def timed_stream(
        self,
        driving: DrivingInput | Motion,
        *,
        max_frames: int | None = None,
        reference: np.ndarray | None = None,
        reference_index: int | None = None,
        side_by_side: bool = False,
        boxes: np.ndarray | None = None,
        folder_fps: float | Fraction | None = None,
    ) -> Iterator[tuple[np.ndarray, list[Fraction] | None]]:
        """Like :meth:`stream`, with each frame's driving time in seconds since the first
        driving frame (None for a motion file without times): ``(frames, times)``."""
        check_positive(max_frames, "max frames")
        motion = _motion_of(driving)
        if motion is not None:
            self._require_keypoints()
            kp = motion.keypoints[reference_index] if reference_index is not None else None
            self.reset(reference_keypoints=kp)
            for batch in self.motion_batches(motion, max_frames):
                yield self.compose(batch, self.animate_batch(batch), side_by_side), batch.times
            return
        with _open_driving(driving, folder_fps) as reader:
            if self.crop_face and boxes is None:
                boxes = self.face_boxes(reader, max_frames)
            self.reset(reference)
            keep = side_by_side and self.paster is not None
            work = self._driving_work(reader) if self.animator.takes_keypoints else None
            batches = self.driving_batches(reader, max_frames, boxes=boxes, keep_originals=keep)
            for index, batch in enumerate(batches):
                keypoints = None
                if work is not None:  # the frames' keypoints, found once for every source
                    if index == len(work.keypoints):
                        work.keypoints.append(self.animator.detect(batch.frames))
                    keypoints = work.keypoints[index]
                frames = self.compose(batch, self.animate_batch(batch, keypoints), side_by_side)
                yield frames, batch.times

    def _require_keypoints(self) -> None:
        """Refuse a motion file (driving keypoints) when the backend takes only frames."""
        if not self.animator.takes_keypoints:
            raise keypoints_need_torch("a motion file as the driving input")

    def _driving_work(self, reader: VideoReader) -> DrivingWork | None:
        """The work already done on this video (to reuse and extend), or None without a
        :class:`DrivingCache`."""
        if self.driving_cache is None:
            return None
        setting = (self.fit, self.batch_size, self.size, self.crop_face, self.smoothing)
        return self.driving_cache.video(reader.path, setting)

    def _face_boxes_of(
        self,
        reader: VideoReader,
        max_frames: int | None,
        progress: bool,
        on_progress: ProgressCallback | None,
    ) -> np.ndarray:
        """:meth:`face_boxes`, or the crops already tracked in this video."""
        work = self._driving_work(reader)
        if work is not None and max_frames in work.boxes:
            return work.boxes[max_frames]
        boxes = self.face_boxes(reader, max_frames, progress, on_progress)
        if work is not None:
            work.boxes[max_frames] = boxes
        return boxes

    def best_frame(
        self,
        driving: DrivingInput,
        *,
        landmarks: LandmarkFunction | None = None,
        max_frames: int | None = None,
        progress: bool = False,
        on_progress: ProgressCallback | None = None,
        boxes: np.ndarray | None = None,
    ) -> BestFrame:
        """The driving frame whose face best matches the source's (one pass over the
        video; only the best frame is kept). See :func:`find_best_frame`.

        Raises:
            TPSMMError: the ``eval`` extra is missing, or the source has no face.
        """
        landmarks = landmarks if landmarks is not None else default_landmarks()
        with _open_driving(driving) as reader:
            total = expected_frames(reader, max_frames)
            batches = (b.frames for b in self.driving_batches(reader, max_frames, boxes=boxes))
            with FrameProgress("best frame", total, bar=progress, on_progress=on_progress) as bar:
                return find_best_frame(
                    self.source, _counted(batches, bar), landmarks, source_name=self.source_name
                )

    def write(
        self,
        driving: DrivingInput | Motion,
        output: str | os.PathLike,
        *,
        side_by_side: bool = False,
        find_best_frame: bool = False,
        max_frames: int | None = None,
        landmarks: LandmarkFunction | None = None,
        progress: bool = False,
        on_progress: ProgressCallback | None = None,
        folder_fps: float | Fraction | None = None,
    ) -> AnimationSummary:
        """Animate a driving video (or a motion file) into ``output``, streaming.

        Args:
            driving: a video path, a folder of frames, an open :class:`VideoReader`, or
                a motion file (``.npz`` path or :class:`Motion`).
            output: ``.mp4``/``.mov``/``.mkv`` (H.264, each frame at its driving frame's
                time, the audio carried over in sync), ``.gif`` (the same timing in
                hundredths of a second), or a folder for PNG frames.
            side_by_side: write source | driving | result.
            find_best_frame: use the driving frame whose face best matches the source as
                the relative mode's reference (needs the ``eval`` extra unless
                ``landmarks`` is given; not with a motion file).
            max_frames: animate at most this many frames from the start.
            landmarks: face landmark function for ``find_best_frame``.
            progress: show a progress bar with frames per second on stderr.
            on_progress: told the frames done after each batch, per pass (see
                :data:`ProgressCallback`); what a web page's progress bar follows.
            folder_fps: the frame rate of a folder of frames as ``driving`` (default 25).

        Raises:
            TPSMMError (MediaError, ...): a bad input or output, found before the output
                is created; a failure later removes the partial output.
        """
        check_positive(max_frames, "max frames")
        check_output(output)
        motion = _motion_of(driving)
        if motion is not None:
            self._require_keypoints()
            if find_best_frame:
                raise TPSMMError(
                    "--find-best-frame needs the driving video's faces; a motion file has "
                    "only keypoints (give the video, or leave out --find-best-frame)"
                )
            driving_path = None if isinstance(driving, Motion) else Path(os.fspath(driving))
            refuse_overwriting_inputs(output, self.source_path, driving_path)
            with _motion_audio(motion) as audio_from:
                writer = VideoWriter(
                    output,
                    motion.frame_rate,
                    audio_from=audio_from,
                    time_base=motion.time_base,
                    variable_rate=motion.variable_rate,
                )
                return self._write(
                    motion,
                    writer,
                    None,
                    None,
                    expected=min(motion.num_frames, max_frames or motion.num_frames),
                    max_frames=max_frames,
                    side_by_side=side_by_side,
                    progress=progress,
                    on_progress=on_progress,
                )
        with _open_driving(driving, folder_fps) as reader:
            refuse_overwriting_inputs(output, self.source_path, reader.path)
            boxes = None
            if self.crop_face:
                boxes = self._face_boxes_of(reader, max_frames, progress, on_progress)
            best = None
            if find_best_frame:
                best = self.best_frame(
                    reader,
                    landmarks=landmarks,
                    max_frames=max_frames,
                    progress=progress,
                    on_progress=on_progress,
                    boxes=boxes,
                )
            return self._write(
                reader,
                VideoWriter.following(output, reader),
                best,
                boxes,
                expected=expected_frames(reader, max_frames),
                max_frames=max_frames,
                side_by_side=side_by_side,
                progress=progress,
                on_progress=on_progress,
            )

    def _write(
        self,
        driving: VideoReader | Motion,
        writer: VideoWriter,
        best: BestFrame | None,
        boxes: np.ndarray | None,
        *,
        expected: int | None,
        max_frames: int | None,
        side_by_side: bool,
        progress: bool,
        on_progress: ProgressCallback | None,
    ) -> AnimationSummary:
        started = time.perf_counter()
        with (
            writer,
            FrameProgress("animate", expected, bar=progress, on_progress=on_progress) as bar,
        ):
            for frames, times in self.timed_stream(
                driving,
                max_frames=max_frames,
                reference=best.frame if best is not None else None,
                side_by_side=side_by_side,
                boxes=boxes,
            ):
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
            best_frame=best.index if best is not None else None,
            seconds=seconds,
            runs_on=self.backend.describe(),
            duration=writer.duration,
            variable_rate=writer.variable_rate,
        )


def driving_face_boxes(
    reader: VideoReader,
    finder: FaceFinder,
    smoothing: float = SMOOTHING_SECONDS,
    max_frames: int | None = None,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> np.ndarray:
    """The smoothed face crop of every driving frame, (T, 3) cx, cy, side in the video's
    pixels (one pass over the video, keeping only the poses; frames without a face
    hold the last box). ``smoothing`` is the Gaussian's sigma in seconds.

    Raises:
        TPSMMError: no face in any frame.
    """
    total = expected_frames(reader, max_frames)
    frames = (frame for batch in reader.read_batches(16, max_frames) for frame in batch)
    with FrameProgress("face", total, bar=progress, on_progress=on_progress) as bar:
        track = track_faces(frames, finder=finder, on_frame=lambda _: bar.update(1))
    try:
        return track.crop_boxes(smoothing * float(reader.frame_rate))
    except TPSMMError:
        raise TPSMMError(
            f"{reader.path}: no face found in any frame of the driving video (--crop-face)"
        ) from None


def driving_batches(
    reader: VideoReader,
    size: int,
    batch_size: int,
    *,
    fit: str = DEFAULT_FIT_MODE,
    boxes: np.ndarray | None = None,
    max_frames: int | None = None,
    keep_originals: bool = False,
) -> Iterator[DrivingBatch]:
    """Driving frames brought to the model's size S, batch by batch, from the first:
    cut to ``boxes`` ((T, 3) face crops, :func:`driving_face_boxes`) when given, else
    fitted with ``fit``; the decoded frames are kept too when ``keep_originals``. Each
    batch carries its frames' times (seconds since the first frame)."""
    fitter = FrameFitter(reader.size, size, check_fit_mode(fit)) if boxes is None else None
    start = 0
    for batch, times in reader.read_timed_batches(batch_size, max_frames):
        if fitter is not None:
            frames = fitter.fit_batch(batch)
        else:
            assert boxes is not None
            frames = np.stack(
                [
                    crop_frame(frame, CropBox.from_array(boxes[start + i]), size)
                    for i, frame in enumerate(batch)
                ]
            )
        start += len(batch)
        yield DrivingBatch(frames, originals=batch if keep_originals else None, times=times)


def extract_motion(
    model: TPSMM,
    driving: DrivingInput,
    *,
    fit: str = DEFAULT_FIT_MODE,
    crop_face: bool = False,
    batch_size: int | None = None,
    max_frames: int | None = None,
    audio: bool = True,
    smoothing: float = SMOOTHING_SECONDS,
    finder: FaceFinder | None = None,
    progress: bool = False,
    on_progress: ProgressCallback | None = None,
) -> Motion:
    """The motion of a driving video: its keypoints as ``model`` finds them on its frames
    brought to the model's size (fitted with ``fit``, or cut around the face with
    ``crop_face``), ``batch_size`` frames at a time as :class:`VideoAnimator` does, so
    that animating from the motion gives the frames animating from the video gives.

    Raises:
        TPSMMError: a bad video, no face with ``crop_face``.
    """
    check_positive(max_frames, "max frames")
    parameter = next(model.parameters())
    batch_size = check_positive(batch_size, "batch size") or default_batch_size(parameter.device)
    with _open_driving(driving) as reader:
        boxes = None
        if crop_face:
            boxes = driving_face_boxes(
                reader, finder or default_finder(), smoothing, max_frames, progress, on_progress
            )
        chunks, ticks = [], []
        total = expected_frames(reader, max_frames)
        with (
            FrameProgress("motion", total, bar=progress, on_progress=on_progress) as bar,
            torch.inference_mode(),
        ):
            for batch in driving_batches(
                reader, model.frame_size, batch_size, fit=fit, boxes=boxes, max_frames=max_frames
            ):
                # as Animator.animate does: to float32 in [0, 1], then the model's dtype
                images = frames_to_tensor(batch.frames, parameter.device).to(parameter.dtype)
                chunks.append(model.keypoints(images).float().cpu().numpy())
                assert batch.times is not None
                ticks.extend(round(time / reader.time_base) for time in batch.times)
                bar.update(len(batch))
        keypoints = np.concatenate(chunks)
        return Motion(
            keypoints=keypoints,
            frame_rate=reader.frame_rate,
            times=np.asarray(ticks, np.int64),
            time_base=reader.time_base,
            config=model.config,
            detector_digest=keypoint_detector_digest(model),
            framing="face" if crop_face else fit,
            video_size=reader.size,
            boxes=boxes[: len(keypoints)] if boxes is not None else None,
            audio=extract_audio(reader.path) if audio and reader.has_audio else None,
        )


def fit_rect(width: int, height: int, fit: str) -> tuple[float, float, float, float]:
    """Where the model's square frame lies in a ``width`` x ``height`` image fitted with
    ``fit`` (l, t, r, b pixels): the centre square (crop), the whole image (stretch),
    the square around it that the padding completes (pad)."""
    fitter = FrameFitter((width, height), 1, check_fit_mode(fit))
    if fit == "crop":
        return tuple(float(v) for v in fitter.box)  # type: ignore[return-value]
    if fit == "stretch":
        return (0.0, 0.0, float(width), float(height))
    side = float(max(width, height))
    return ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)


def keypoint_pictures(batch: DrivingBatch, size: int) -> np.ndarray:
    """The driving keypoints of a batch drawn as dots on grey, (B, S, S, 3) uint8: what
    the side-by-side view shows for a motion file, which has no frames."""
    assert batch.keypoints is not None
    pictures = np.full((len(batch.keypoints), size, size, 3), 64, np.uint8)
    radius = max(1, size // 96)
    colours = _keypoint_colours(batch.keypoints.shape[1] // 5)
    for picture, points in zip(pictures, batch.keypoints, strict=True):
        pixels = np.clip(np.round((points + 1) * (size - 1) / 2).astype(int), 0, size - 1)
        for index, (x, y) in enumerate(pixels):
            picture[max(0, y - radius) : y + radius + 1, max(0, x - radius) : x + radius + 1] = (
                colours[index // 5]
            )
    return pictures


def _keypoint_colours(count: int) -> np.ndarray:
    """``count`` distinct bright colours, (count, 3) uint8 (one per TPS)."""
    hues = np.arange(count) / max(count, 1)
    channels = [np.abs(((hues * 6 + shift) % 6) - 3) - 1 for shift in (0, 4, 2)]
    return (np.clip(np.stack(channels, axis=1), 0, 1) * 195 + 60).astype(np.uint8)


def _scaled_to_height(frame: np.ndarray, height: int) -> np.ndarray:
    """An (h, w, 3) frame resized to ``height`` rows, keeping its proportions."""
    width = max(1, round(frame.shape[1] * height / frame.shape[0]))
    return resize_box(frame, (0, 0, frame.shape[1], frame.shape[0]), (width, height))


def _motion_of(driving: object) -> Motion | None:
    """The motion of a driving input that is a motion file (path or :class:`Motion`)."""
    if isinstance(driving, Motion):
        return driving
    if isinstance(driving, str | os.PathLike) and is_motion_file(driving):
        return load_motion(driving)
    return None


@contextlib.contextmanager
def _motion_audio(motion: Motion) -> Iterator[Path | None]:
    """A temporary file holding a motion file's audio (None when it has none)."""
    if motion.audio is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="tpsmm-audio-") as folder:
        path = Path(folder) / "audio.mka"
        path.write_bytes(motion.audio)
        yield path


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
    on_progress: ProgressCallback | None = None,
    landmarks: LandmarkFunction | None = None,
    motion_scale: float = 1.0,
    crop_face: bool = False,
    paste_back: bool = False,
    smoothing: float = SMOOTHING_SECONDS,
    finder: FaceFinder | None = None,
    folder_fps: float | Fraction | None = None,
) -> AnimationSummary:
    """Animate ``source`` by ``driving`` into ``output``, streaming, in constant memory.

    The one-call form of :class:`VideoAnimator` (see :meth:`VideoAnimator.write` for the
    arguments, :class:`VideoAnimator` for the others); what ``tpsmm animate`` runs, with
    either backend.
    """
    animator = VideoAnimator(
        model,
        source,
        mode=mode,
        fit=fit,
        batch_size=batch_size,
        background=background,
        motion_scale=motion_scale,
        crop_face=crop_face,
        paste_back=paste_back,
        smoothing=smoothing,
        finder=finder,
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
        folder_fps=folder_fps,
    )
