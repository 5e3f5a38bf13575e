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

import os
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from tpsmm.animation.animator import as_backend
from tpsmm.animation.backend import AnimationBackend, keypoints_need_torch
from tpsmm.animation.best_frame import BestFrame, default_landmarks, find_best_frame
from tpsmm.animation.compose import FrameComposer
from tpsmm.animation.driving import (
    DrivingBatch,
    DrivingCache,
    DrivingInput,
    DrivingWork,
    check_positive,
    driving_batches,
    driving_face_boxes,
    motion_audio,
    motion_batches,
    motion_of,
    open_driving,
    warn_if_uniform_reference,
)
from tpsmm.animation.keypoints import check_mode
from tpsmm.animation.motion_file import Motion
from tpsmm.animation.output import AnimationSummary, refuse_overwriting_inputs, write_animation
from tpsmm.animation.paste import PasteBack
from tpsmm.animation.progress import FrameProgress, ProgressCallback, counted, expected_frames
from tpsmm.animation.resolution import AUTO, Resolution, check_resolution, resolve_resolution
from tpsmm.animation.source import SourceInput, read_source, source_framing
from tpsmm.errors import TPSMMError
from tpsmm.faces import LandmarkFunction
from tpsmm.faces.tracking import SMOOTHING_SECONDS, FaceFinder, default_finder
from tpsmm.media import (
    DEFAULT_FIT_MODE,
    VideoReader,
    VideoWriter,
    check_fit_mode,
    check_output,
    to_uint8,
)
from tpsmm.media.tensors import tensor_to_frames
from tpsmm.model import TPSMM


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
        resolution: the side N of the animated square in the output (see
            :mod:`tpsmm.animation.resolution`): above the model's size S, rendered from
            the source at its own resolution (:mod:`tpsmm.highres`); below it, the
            model's frames downsampled; ``"auto"``: the square's side in the source
            image's pixels, at most :data:`~tpsmm.animation.resolution.AUTO_LIMIT`;
            ``"model"`` or None: S, except with ``crop_face`` and ``paste_back`` both
            on, where None means ``"auto"``. Driving frames reach the model at S
            whatever N is; with ``paste_back`` the N x N frames are pasted into the
            image (without passing through S).

    Attributes:
        size: the model's frame size S; source: the source as the model sees it,
            (S, S, 3) uint8; image: the full source image; source_rect: where
            ``source`` lies in ``image`` (l, t, r, b pixels); resolution: N.

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
        resolution: Resolution = None,
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
        self.image, self.source_path, self.source_name = read_source(source)
        self.finder = finder if finder is not None or not crop_face else default_finder()
        framing = source_framing(
            self.image,
            fit=self.fit,
            finder=self.finder if crop_face else None,
            name=self.source_name,
        )
        self.source, self.source_rect = framing.cut(self.image, self.size), framing.rect
        wanted = check_resolution(resolution)
        if wanted is None and crop_face and paste_back:
            wanted = AUTO
        self.resolution = resolve_resolution(wanted, self.size, framing.native_side)
        rendered, shown = self.source, self.source
        if self.resolution > self.size:  # the source at its own resolution, up to N
            side = min(self.resolution, max(self.size, round(framing.native_side)))
            rendered = framing.cut(self.image, side)
        if self.resolution != self.size:
            shown = framing.cut(self.image, self.resolution)
        self.animator = self.backend.animator(
            rendered,
            self.mode,
            background=background,
            motion_scale=motion_scale,
            resolution=self.resolution if self.resolution > self.size else None,
        )
        frame_side = self.animator.frame_size
        self.paster = PasteBack(self.image, self.source_rect, frame_side) if paste_back else None
        self.composer = FrameComposer(shown, self.image, self.paster)

    @property
    def output_size(self) -> tuple[int, int] | None:
        """(width, height) of the animated frames: the source's with ``paste_back``,
        else (N, N); side by side is wider."""
        return self.composer.output_size

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
        return motion_batches(motion, self.batch_size, max_frames)

    # Animation -------------------------------------------------------------------------

    def animate_batch(
        self, frames: np.ndarray | DrivingBatch, keypoints: torch.Tensor | None = None
    ) -> np.ndarray:
        """Driving frames (B, S, S, 3) uint8, or a :class:`DrivingBatch` -> (B, N', N', 3)
        uint8 animated frames (N' = N above the model's size, else S).

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
        """The output frames for animated ``result`` (B, N', N', 3) (see
        :meth:`FrameComposer.compose`)."""
        return self.composer.compose(batch, result, side_by_side)

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
            (B, N, N, 3) uint8 batches, (B, H, W, 3) with ``paste_back``; side by side
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
        motion = motion_of(driving)
        if motion is not None:
            self._require_keypoints()
            kp = motion.keypoints[reference_index] if reference_index is not None else None
            self.reset(reference_keypoints=kp)
            for batch in self.motion_batches(motion, max_frames):
                yield self.compose(batch, self.animate_batch(batch), side_by_side), batch.times
            return
        with open_driving(driving, folder_fps) as reader:
            if self.crop_face and boxes is None:
                boxes = self.face_boxes(reader, max_frames)
            self.reset(reference)
            keep = side_by_side and self.composer.needs_originals
            work = self._driving_work(reader) if self.animator.takes_keypoints else None
            batches = self.driving_batches(reader, max_frames, boxes=boxes, keep_originals=keep)
            for index, batch in enumerate(batches):
                if index == 0 and reference is None and self.mode == "relative":
                    warn_if_uniform_reference(batch.frames[0], str(reader.path))
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
        with open_driving(driving) as reader:
            total = expected_frames(reader, max_frames)
            batches = (b.frames for b in self.driving_batches(reader, max_frames, boxes=boxes))
            with FrameProgress("best frame", total, bar=progress, on_progress=on_progress) as bar:
                return find_best_frame(
                    self.source, counted(batches, bar), landmarks, source_name=self.source_name
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
        motion = motion_of(driving)
        if motion is not None:
            self._require_keypoints()
            if find_best_frame:
                raise TPSMMError(
                    "--find-best-frame needs the driving video's faces; a motion file has "
                    "only keypoints (give the video, or leave out --find-best-frame)"
                )
            driving_path = None if isinstance(driving, Motion) else Path(os.fspath(driving))
            refuse_overwriting_inputs(output, self.source_path, driving_path)
            name = str(driving_path) if driving_path is not None else "the motion file"
            with motion_audio(motion, name) as audio_from:
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
        with open_driving(driving, folder_fps) as reader:
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
        batches = self.timed_stream(
            driving,
            max_frames=max_frames,
            reference=best.frame if best is not None else None,
            side_by_side=side_by_side,
            boxes=boxes,
        )
        return write_animation(
            batches,
            writer,
            expected=expected,
            runs_on=self.backend.describe(),
            best_frame=best.index if best is not None else None,
            progress=progress,
            on_progress=on_progress,
        )


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
    resolution: Resolution = None,
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
        resolution=resolution,
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
