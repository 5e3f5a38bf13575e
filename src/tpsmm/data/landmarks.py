"""Facial landmarks of training videos: dlib's 68 points per frame, stored beside each video.

``tpsmm dataset landmarks ROOT`` finds the face of every frame of every video of a
dataset (the face followed from frame to frame as ``--crop-face`` does, dlib's HOG
detector and 68-point shape predictor of the ``eval`` extra) and writes
``<video>.landmarks.npz`` beside it:

- ``points`` (T, 68, 2) float32: the landmarks of each frame in the model's normalised
  coordinates, (x, y) in [-1, 1] with align_corners=True (pixel centre ``i`` of a side of
  ``n`` pixels at ``2 i / (n - 1) - 1``; dlib's whole-pixel coordinates are pixel
  centres), so the file holds for any frame size the video is read at;
- ``found`` (T,) bool: the frames where a face was found (their ``points`` are 0 elsewhere);
- ``size`` (2,) int64: the width and height of the frames the landmarks were found on.

With ``dataset_params.landmarks`` the training pairs of such videos carry the two
frames' landmarks (:mod:`tpsmm.data.datasets`) for the landmark losses of
:mod:`tpsmm.losses`. Indices are dlib's (0-based): jaw 0-16, brows 17-26, nose 27-35,
eyes 36-47 (the subject's right eye, on the image's left, first), mouth 48-67 (inner
lips 60-67).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from tpsmm.errors import TPSMMError
from tpsmm.files import atomic_path, read_versioned_npz, write_error

__all__ = [
    "LANDMARKS_SUFFIX",
    "MIRRORED_LANDMARKS",
    "NUM_LANDMARKS",
    "LandmarkFile",
    "VideoLandmarks",
    "annotate_videos",
    "find_video_landmarks",
    "landmarks_path",
    "mirror_landmarks",
    "normalise_points",
    "read_landmarks",
    "write_landmarks",
]

NUM_LANDMARKS = 68
LANDMARKS_SUFFIX = ".landmarks.npz"
FORMAT_VERSION = 1


def _mirror_permutation() -> tuple[int, ...]:
    """For each dlib index, the index of its mirror image across the face's midline."""
    pairs = [(i, 16 - i) for i in range(8)]  # jaw
    pairs += [(17 + i, 26 - i) for i in range(5)]  # brows
    pairs += [(31, 35), (32, 34)]  # nostrils
    pairs += [(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]  # eyes
    pairs += [(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]  # outer lips
    pairs += [(60, 64), (61, 63), (65, 67)]  # inner lips
    mirror = list(range(NUM_LANDMARKS))
    for a, b in pairs:
        mirror[a], mirror[b] = b, a
    return tuple(mirror)


#: ``MIRRORED_LANDMARKS[i]``: the landmark that lands where landmark ``i`` was meant to be
#: once the picture is flipped left-right (the subject's right eye becomes their left).
MIRRORED_LANDMARKS: tuple[int, ...] = _mirror_permutation()


def mirror_landmarks(points: np.ndarray) -> np.ndarray:
    """Landmarks of the horizontally flipped picture: x negated (normalised coordinates)
    and the points renumbered so each index keeps its meaning.

    Args:
        points: (..., 68, 2) normalised (x, y).

    Returns:
        (..., 68, 2), the same dtype.
    """
    flipped = np.array(points, copy=True)
    flipped[..., 0] *= -1
    return flipped[..., list(MIRRORED_LANDMARKS), :]


def normalise_points(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel-centre coordinates (x, y) -> the model's normalised [-1, 1] (align_corners=True)."""
    scale = np.array([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)])
    return (np.asarray(points, dtype=np.float64) * scale - 1.0).astype(np.float32)


class VideoLandmarks(NamedTuple):
    """The landmarks of one video: ``points`` (T, 68, 2) float32 normalised, ``found`` (T,)
    bool, ``size`` (width, height) of the frames they were found on."""

    points: np.ndarray
    found: np.ndarray
    size: tuple[int, int]


def landmarks_path(video: str | os.PathLike) -> Path:
    """The landmark file of a dataset video (``<video>.landmarks.npz`` beside it)."""
    video = Path(video)
    return video.with_name(video.name + LANDMARKS_SUFFIX)


def write_landmarks(video: str | os.PathLike, landmarks: VideoLandmarks) -> Path:
    """Write ``landmarks`` beside ``video`` (atomically); returns the file's path."""
    path = landmarks_path(video)
    points = np.where(landmarks.found[:, None, None], landmarks.points, 0).astype(np.float32)
    try:
        with atomic_path(path) as partial, open(partial, "wb") as handle:
            np.savez(
                handle,
                format_version=np.int64(FORMAT_VERSION),
                points=points,
                found=np.asarray(landmarks.found, dtype=bool),
                size=np.asarray(landmarks.size, dtype=np.int64),
            )
    except OSError as error:
        raise write_error(path, error) from None
    return path


def read_landmarks(video: str | os.PathLike) -> VideoLandmarks | None:
    """The landmarks of a dataset video, or None when it has no landmark file.

    Raises:
        TPSMMError: the file exists but is not a landmark file of this format.
    """
    path = landmarks_path(video)
    if not path.is_file():
        return None
    arrays = read_versioned_npz(path, "landmark", FORMAT_VERSION, ("points", "found", "size"))
    points = np.asarray(arrays["points"], dtype=np.float32)
    found = np.asarray(arrays["found"], dtype=bool)
    size = tuple(int(v) for v in arrays["size"])
    if points.shape != (len(found), NUM_LANDMARKS, 2) or len(size) != 2:
        raise TPSMMError(f"{path}: not a tpsmm landmark file (points of shape {points.shape})")
    if not np.isfinite(points).all():
        raise TPSMMError(f"{path}: landmarks that are not finite numbers")
    return VideoLandmarks(points, found, (size[0], size[1]))


class LandmarkFile:
    """The landmarks of one video, read once, looked up by frame index (the dataset keeps
    one per video in each worker). ``None`` where the video has no landmark file."""

    def __init__(self, video: str | os.PathLike) -> None:
        self.video = Path(video)
        self.landmarks = read_landmarks(video)

    @classmethod
    def empty(cls, video: str | os.PathLike) -> LandmarkFile:
        """A video's entry without reading its file: no frame has landmarks."""
        entry = cls.__new__(cls)
        entry.video, entry.landmarks = Path(video), None
        return entry

    def frames(self, indices: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(points (N, 68, 2) float32, found (N,) bool)`` of the frames ``indices``; not
        found where the video has no landmarks or fewer frames than the index."""
        count = len(indices)
        points = np.zeros((count, NUM_LANDMARKS, 2), dtype=np.float32)
        found = np.zeros(count, dtype=bool)
        if self.landmarks is None:
            return points, found
        for row, index in enumerate(indices):
            if 0 <= index < len(self.landmarks.found) and self.landmarks.found[index]:
                points[row] = self.landmarks.points[index]
                found[row] = True
        return points, found


# Finding them -----------------------------------------------------------------------


def find_video_landmarks(
    frames: Iterable[np.ndarray], *, finder: object | None = None
) -> VideoLandmarks:
    """The landmarks of every frame of a video, the face followed from frame to frame.

    The largest face of the first frame with one is followed (searched for around where
    it was, as :class:`tpsmm.faces.FaceTracker` does); where it is lost the whole frame
    is searched again.

    Args:
        frames: (H, W, 3) uint8 RGB frames (consumed once).
        finder: a :class:`tpsmm.faces.tracking.FaceFinder` (the process's default one when
            None; needs the ``eval`` extra).

    Returns:
        :class:`VideoLandmarks` in normalised coordinates.
    """
    from tpsmm.faces.crop import face_pose
    from tpsmm.faces.tracking import default_finder

    finder = finder or default_finder()
    rows: list[np.ndarray] = []
    found: list[bool] = []
    last = None
    size = (0, 0)
    for frame in frames:
        height, width = frame.shape[:2]
        size = (width, height)
        candidates = finder.find_near(frame, face_pose(last)) if last is not None else []  # type: ignore[attr-defined]
        if not candidates:
            candidates = finder.find_all(frame, largest=last is None)  # type: ignore[attr-defined]
        chosen = _closest(candidates, last)
        if chosen is None:
            rows.append(np.zeros((NUM_LANDMARKS, 2), dtype=np.float32))
            found.append(False)
            continue
        last = chosen
        rows.append(normalise_points(chosen, width, height))
        found.append(True)
    points = np.stack(rows) if rows else np.zeros((0, NUM_LANDMARKS, 2), dtype=np.float32)
    return VideoLandmarks(points, np.array(found, dtype=bool), size)


def _closest(candidates: list[np.ndarray], last: np.ndarray | None) -> np.ndarray | None:
    """The candidate face nearest to the last one (the first, largest, without one)."""
    if not candidates:
        return None
    if last is None:
        return candidates[0]
    centre = last.mean(axis=0)
    return min(candidates, key=lambda points: float(np.hypot(*(points.mean(axis=0) - centre))))


@dataclass(frozen=True)
class AnnotationResult:
    """One video of :func:`annotate_videos`: its landmark file (None when kept as it was)
    and the share of its frames with a face."""

    video: Path
    path: Path | None
    frames: int
    found: int

    @property
    def share(self) -> float:
        return self.found / self.frames if self.frames else math.nan


def annotate_videos(
    videos: Sequence[Path],
    *,
    overwrite: bool = False,
    on_video: Callable[[AnnotationResult], None] | None = None,
) -> list[AnnotationResult]:
    """Find and write the landmarks of ``videos`` (dataset videos: folders of frames,
    video files or strips as :func:`tpsmm.data.video_io.open_video` reads them, at their
    own frame size). Videos that already have a landmark file are kept unless
    ``overwrite``."""
    results = []
    for video in videos:
        existing = read_landmarks(video) if not overwrite else None
        if existing is not None:
            result = AnnotationResult(video, None, len(existing.found), int(existing.found.sum()))
        else:
            landmarks = find_video_landmarks(_video_frames(video))
            path = write_landmarks(video, landmarks)
            result = AnnotationResult(video, path, len(landmarks.found), int(landmarks.found.sum()))
        results.append(result)
        if on_video is not None:
            on_video(result)
    return results


def _video_frames(video: Path) -> Iterator[np.ndarray]:
    """Every frame of a dataset video, (H, W, 3) uint8, decoded once from the start."""
    from tpsmm.data.video_io import STRIP_EXTENSIONS, open_video
    from tpsmm.media import VideoReader

    if video.suffix.lower() in STRIP_EXTENSIONS and not video.is_dir():
        source = open_video(video, None)
        for index in range(source.num_frames):
            yield np.clip(np.rint(source.read([index])[0] * 255), 0, 255).astype(np.uint8)
        return
    with VideoReader(video) as reader:
        yield from reader
