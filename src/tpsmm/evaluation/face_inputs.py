"""The inputs of ``tpsmm benchmark-faces``: driving videos and source portraits.

Every frame is kept at two sizes: the model's frame size S (what the model is given)
and the analysis size A (what dlib measures; 256 by default), each made from the file's
own pixels (bicubic, anti-aliased when shrinking: :func:`tpsmm.media.fit_frame`).

* Driving videos: the clips of a folder (video files and folders of frames, as ``tpsmm
  prepare-videos --kind face`` writes them, already cropped around the face), or the
  folder itself when it holds frames. Non-square frames are cut to their centred square
  (``--fit crop``, the default of ``tpsmm animate``); they are not searched for a face.
  Frames 0, k, 2k, ... are kept (``frame_step`` k), at most ``max_frames`` of them.
* Sources: the images of a folder (photos, paintings, drawn faces, of any size), each
  cut to the training-style square around its largest face exactly as ``tpsmm animate
  --crop-face`` cuts its source (:func:`tpsmm.faces.tracking.find_face`,
  :func:`tpsmm.faces.crop.crop_for_pose`, :func:`~tpsmm.faces.crop.fit_inside`), then
  resized to S. Where that finds no face, the search is made again with the HOG
  detector's threshold lowered to :data:`RETRY_THRESHOLD` (-0.5: a photo of a man with
  glasses and curly hair scored -0.36); an image without a face even then is skipped
  (:func:`load_sources` says which, and which needed the second search).
  A source is analysed as the model sees it: its S x S crop brought to A, as the
  results are.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from tpsmm.errors import TPSMMError
from tpsmm.faces.crop import crop_for_pose, crop_frame, fit_inside
from tpsmm.media import (
    GIF_SUFFIX,
    IMAGE_SUFFIXES,
    VIDEO_SUFFIXES,
    FrameFitter,
    VideoReader,
    fit_frame,
    list_frame_files,
    load_image,
    natural_sort_key,
)

__all__ = [
    "DrivingVideo",
    "SourceImage",
    "list_images",
    "list_videos",
    "load_sources",
    "read_driving",
    "source_from_frame",
]

_VIDEO_FILES = VIDEO_SUFFIXES | {GIF_SUFFIX}
#: The HOG detector's threshold for a source in which ``--crop-face``'s finds no face.
RETRY_THRESHOLD = -0.5


@dataclass(frozen=True)
class DrivingVideo:
    """The kept frames of one driving video.

    Attributes:
        name: the clip's name (a folder's name, a file's name without suffix).
        path: where it is.
        frames: (T, S, S, 3) uint8 at the model's size.
        analysis: (T, A, A, 3) uint8 at the analysis size.
        indices: (T,) the kept frames' numbers in the file.
        original_size: (width, height) of the file's frames.
    """

    name: str
    path: Path
    frames: np.ndarray
    analysis: np.ndarray
    indices: np.ndarray
    original_size: tuple[int, int]


@dataclass(frozen=True)
class SourceImage:
    """A source portrait cut to its face.

    Attributes:
        name: the file's name without suffix (or the video's, for a first frame).
        path: where it is.
        frame: (S, S, 3) uint8, what the model animates.
        analysis: (A, A, 3) uint8, ``frame`` brought to the analysis size.
        crop: (left, top, right, bottom) of the face crop in the image's pixels.
        image_size: (width, height) of the image.
    """

    name: str
    path: Path
    frame: np.ndarray
    analysis: np.ndarray
    crop: tuple[float, float, float, float]
    image_size: tuple[int, int]


def _entries(folder: Path) -> Iterator[Path]:
    for entry in sorted(folder.iterdir(), key=lambda path: natural_sort_key(path.name)):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() or (entry.is_file() and entry.suffix.lower() in _VIDEO_FILES):
            yield entry


def list_videos(folder: str | os.PathLike) -> list[Path]:
    """The driving videos of ``folder``: itself when it holds frame images, else its video
    files and folders (by name, naturally sorted).

    Raises:
        TPSMMError: no such folder, or nothing in it.
    """
    path = Path(folder)
    if not path.is_dir():
        raise TPSMMError(f"{path}: --videos needs a folder of videos (no such folder)")
    if list_frame_files(path):
        return [path]
    videos = list(_entries(path))
    if not videos:
        raise TPSMMError(f"{path}: no videos in it (video files or folders of frames)")
    return videos


def read_driving(
    path: str | os.PathLike,
    model_size: int,
    analysis_size: int,
    *,
    max_frames: int | None = None,
    frame_step: int = 1,
) -> DrivingVideo:
    """Read the kept frames of one video (see the module doc).

    Raises:
        MediaError: the video cannot be read (naming it).
    """
    path = Path(path)
    if frame_step < 1:
        raise ValueError(f"frame_step must be at least 1, got {frame_step}")
    stop = None if max_frames is None else max_frames * frame_step
    frames, analysis, indices = [], [], []
    with VideoReader(path) as reader:
        kept = islice(enumerate(reader), 0, stop, frame_step)
        for index, frame in kept:
            if not frames:
                size = (frame.shape[1], frame.shape[0])
                to_model = FrameFitter(size, model_size, "crop")
                to_analysis = FrameFitter(size, analysis_size, "crop")
            frames.append(to_model(frame))
            analysis.append(to_analysis(frame))
            indices.append(index)
    return DrivingVideo(
        name=path.name if path.is_dir() else path.stem,
        path=path,
        frames=np.stack(frames),
        analysis=np.stack(analysis),
        indices=np.array(indices),
        original_size=size,
    )


def list_images(folder: str | os.PathLike) -> list[Path]:
    """The image files of ``folder`` (by name, naturally sorted).

    Raises:
        TPSMMError: no such folder, or no images in it.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise TPSMMError(f"{folder}: --sources needs a folder of images (no such folder)")
    files = [
        entry
        for entry in sorted(folder.iterdir(), key=lambda path: natural_sort_key(path.name))
        if entry.is_file() and not entry.name.startswith(".")
        if entry.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise TPSMMError(f"{folder}: no images in it ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return files


def load_sources(
    folder: str | os.PathLike, model_size: int, analysis_size: int, finder: object = None
) -> tuple[list[SourceImage], list[str]]:
    """The portraits of ``folder`` cut to their faces, and a note for each image skipped
    because no face was found in it.

    Args:
        finder: the :class:`tpsmm.faces.tracking.FaceFinder` (the shared one by default).

    Raises:
        TPSMMError: no such folder or no images; MediaError: an unreadable image.
    """
    from tpsmm.faces import FaceAnalyzer
    from tpsmm.faces.tracking import FaceFinder, default_finder, find_face

    finder = finder or default_finder()
    sensitive: FaceFinder | None = None
    sources, notes = [], []
    for path in list_images(folder):
        image = load_image(path)
        pose = find_face(image, finder)  # type: ignore[arg-type]
        if pose is None:
            if sensitive is None:
                analyzer = FaceAnalyzer(upsample=0, threshold=RETRY_THRESHOLD)
                sensitive = FaceFinder(analyzer)
            pose = find_face(image, sensitive)
            if pose is None:
                notes.append(f"{path}: no face found; source skipped")
                continue
            notes.append(
                f"{path}: face found only with the detector's threshold lowered to "
                f"{RETRY_THRESHOLD:g} (tpsmm animate --crop-face finds none)"
            )
        height, width = image.shape[:2]
        box = fit_inside(crop_for_pose(pose), width, height)
        frame = crop_frame(image, box, model_size)
        sources.append(
            SourceImage(
                name=path.stem,
                path=path,
                frame=frame,
                analysis=fit_frame(frame, analysis_size),
                crop=box.bounds,
                image_size=(width, height),
            )
        )
    return sources, notes


def source_from_frame(video: DrivingVideo, analysis_size: int) -> SourceImage:
    """A video's first kept frame as a source (when no ``--sources`` are given)."""
    frame = video.frames[0]
    width, height = video.original_size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2  # the centred square ("crop")
    return SourceImage(
        name=video.name,
        path=video.path,
        frame=frame,
        analysis=fit_frame(frame, analysis_size),
        crop=(float(left), float(top), float(left + side), float(top + side)),
        image_size=video.original_size,
    )
