"""The driving input of the animation job, batch by batch.

A driving input is a video file, a folder of frames, an open :class:`VideoReader`, or a
motion file (its keypoints, :mod:`tpsmm.animation.motion_file`). Its frames reach the
model's square size S either fitted (``crop`` | ``pad`` | ``stretch``) or cut around
the face followed through the video (``crop_face``, :func:`driving_face_boxes`), and
travel as :class:`DrivingBatch` objects with their times. :class:`DrivingCache` keeps
what was found on a video (keypoints, face crops) for the next source it animates.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tpsmm.animation.motion_file import Motion, is_motion_file, load_motion
from tpsmm.animation.progress import FrameProgress, ProgressCallback, expected_frames
from tpsmm.errors import TPSMMError, TPSMMWarning, named_in_errors
from tpsmm.faces.crop import CropBox, crop_frame
from tpsmm.faces.tracking import SMOOTHING_SECONDS, FaceFinder, smoothing_reach, track_faces
from tpsmm.media import DEFAULT_FIT_MODE, FrameFitter, VideoReader, check_fit_mode

#: What the job takes as a driving video: a path (file or folder of frames) or a reader.
DrivingInput = str | os.PathLike | VideoReader


#: A reference frame whose pixel values (0-255) have a standard deviation below this is
#: nearly uniform: black, white or blank.
UNIFORM_STD = 4.0


class UniformReferenceWarning(TPSMMWarning):
    """The relative mode's reference (the first driving frame) is nearly uniform."""


def warn_if_uniform_reference(frame: np.ndarray, name: str) -> None:
    """Warn when ``frame`` ((S, S, 3) uint8, the relative mode's reference) is nearly
    uniform (a black first frame): its keypoints say nothing of the face, and every
    frame's motion is measured from them."""
    if float(np.std(frame)) < UNIFORM_STD:
        warnings.warn(
            f"{name}: the first driving frame, the relative mode's reference, is nearly "
            f"uniform (mean level {float(np.mean(frame)):.0f} of 255: a black or blank "
            "frame); the motion is measured from it and will be wrong: --find-best-frame "
            "takes the frame most like the source as the reference, or cut the video",
            UniformReferenceWarning,
            stacklevel=2,
        )


def check_positive(value: int | None, what: str) -> int | None:
    """``value`` if it is None or at least 1, else a one-line error naming ``what``."""
    whole = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if value is not None and (not whole or value < 1):
        raise TPSMMError(f"{what} must be a positive whole number, got {value!r}")
    return value


def open_driving(
    driving: DrivingInput, folder_fps: float | Fraction | None = None
) -> contextlib.AbstractContextManager[VideoReader]:
    """A context giving a reader whose first frame decoded (a folder of frames at
    ``folder_fps``, default 25); closes it only if opened here."""
    if isinstance(driving, VideoReader):
        driving.check()
        return contextlib.nullcontext(driving)
    return VideoReader(driving, fps=folder_fps, check=True)


def motion_of(driving: object) -> Motion | None:
    """The motion of a driving input that is a motion file (path or :class:`Motion`)."""
    if isinstance(driving, Motion):
        return driving
    if isinstance(driving, str | os.PathLike) and is_motion_file(driving):
        return load_motion(driving)
    return None


@contextlib.contextmanager
def motion_audio(motion: Motion, name: str = "the motion file") -> Iterator[Path | None]:
    """A temporary file holding a motion file's audio (None when it has none); errors
    raised in the block name it as ``name``'s audio, not by its temporary path."""
    if motion.audio is None:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="tpsmm-audio-") as folder:
        path = Path(folder) / "audio.mka"
        path.write_bytes(motion.audio)
        with named_in_errors(path, f"{name} (its audio)"):
            yield path


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

    With ``max_frames`` the face is followed a little further (the smoothing's reach,
    :func:`smoothing_reach`), so that the first ``max_frames`` crops are those of the
    whole video: animating part of a video and animating a motion file of all of it
    cut the same crops.

    Raises:
        TPSMMError: no face in any frame.
    """
    sigma = smoothing * float(reader.frame_rate)
    read = None if max_frames is None else max_frames + smoothing_reach(sigma)
    total = expected_frames(reader, read)
    frames = (frame for batch in reader.read_batches(16, read) for frame in batch)
    with FrameProgress("face", total, bar=progress, on_progress=on_progress) as bar:
        track = track_faces(frames, finder=finder, on_frame=lambda _: bar.update(1))
    try:
        return track.crop_boxes(sigma)[:max_frames]
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


def motion_batches(
    motion: Motion, batch_size: int, max_frames: int | None = None
) -> Iterator[DrivingBatch]:
    """The keypoints of a motion file, ``batch_size`` frames at a time."""
    end = motion.num_frames if max_frames is None else min(max_frames, motion.num_frames)
    times = motion.frame_times()
    for start in range(0, end, batch_size):
        stop = min(start + batch_size, end)
        part = times[start:stop] if times is not None else None
        yield DrivingBatch(None, keypoints=motion.keypoints[start:stop], times=part)


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
