"""Writing a synthetic dataset in the authors' layout, with ground truth beside each video.

Layout of ``ROOT`` (what :func:`write_dataset` makes)::

    ROOT/synth.json                    what was made: parameters, seed, photo sources
    ROOT/train/synth-00000/000000.png  frames of a video (a folder of PNG frames)
    ROOT/train/synth-00000.npz         its ground truth (see below)
    ROOT/test/synth-00040/...          the test videos, likewise

With ``sample_clips``, ``train/`` also holds overlapping clips of the first 80 % of the
bundled sample video (``sample#00``, ``sample#01``, ...) and ``test/`` its last 20 %
(``sample-heldout``), fitted to the frame size as ``tpsmm demo`` fits them (centre
crop); these real clips have no ground-truth file.

Ground-truth file ``<video>.npz`` (NumPy, uncompressed so that training reads it fast),
for T frames of S x S pixels:

==================  ==============  =====================================================
``deformation``     (T, S, S, 2)    float32: for each pixel of frame t, where its scene
                                    point is in frame 0, normalised (x, y) in [-1, 1],
                                    align_corners=True (the convention of
                                    ``model.motion(...)['deformation']`` with frame 0 as
                                    the source); frame 0 holds the identity grid
``valid``           (T, S, S)       bool: the pixel is visible in frame 0 and off the
                                    object's soft edge (frame 0 warped by
                                    ``deformation`` gives frame t there, to 1/255)
``alpha``           (T, S, S)       float32: the object's coverage of the pixel
``camera``          (T, 3, 3)       float32: the background's affine map, frame t ->
                                    frame 0 (the background predictor's convention)
``points``          (T, P, 2)       float32: tracked points' positions in frame t
``points_visible``  (T, P)          bool: inside frame t and not hidden by the object
``points_on_object`` (P,)           bool
``frame_size``      ()              int: S
``format_version``  ()              int: :data:`FORMAT_VERSION`
==================  ==============  =====================================================

A seed gives the same dataset: video ``i`` draws everything from
``numpy.random.default_rng([seed, i])``.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from tpsmm.errors import TPSMMError
from tpsmm.files import read_versioned_npz
from tpsmm.media import fit_frame, read_video, save_image
from tpsmm.synthetic.render import GroundTruth, RenderParams, SyntheticVideo, render_video
from tpsmm.synthetic.textures import SAMPLE_TRAIN_FRACTION, photo_pool

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "FrameMotion",
    "SynthSummary",
    "ground_truth_path",
    "read_frame_motion",
    "read_ground_truth",
    "write_dataset",
]

FORMAT_VERSION = 1
MANIFEST_NAME = "synth.json"
GROUND_TRUTH_SUFFIX = ".npz"
SAMPLE_CLIP_FRAMES = 64


@dataclass(frozen=True)
class SynthSummary:
    """What :func:`write_dataset` wrote: the root, and the videos per split."""

    root: Path
    train: int
    test: int
    sample_clips: int

    def describe(self) -> str:
        sample = f", {self.sample_clips} sample-video clips" if self.sample_clips else ""
        return f"{self.train} training and {self.test} test videos{sample} in {self.root}"


def ground_truth_path(video: str | os.PathLike) -> Path:
    """The ground-truth file of a dataset video (``<video>.npz`` beside it)."""
    video = Path(video)
    return video.with_name(video.name + GROUND_TRUTH_SUFFIX)


def read_ground_truth(video: str | os.PathLike) -> GroundTruth | None:
    """The ground truth of a dataset video, or None when it has none (a real video).

    Raises:
        TPSMMError: the file exists but is not a ground-truth file of this format.
    """
    path = ground_truth_path(video)
    if not path.is_file():
        return None
    arrays = read_versioned_npz(path, "ground-truth", FORMAT_VERSION, GroundTruth._fields)
    return GroundTruth(**arrays)


class FrameMotion(NamedTuple):
    """The ground truth of one frame t: ``deformation`` (S, S, 2) float32 and ``valid``
    (S, S) bool (see :class:`tpsmm.synthetic.GroundTruth`), and ``camera`` (3, 3) float32,
    the background's affine map frame t -> frame 0 in normalised (x, y) coordinates."""

    deformation: np.ndarray
    valid: np.ndarray
    camera: np.ndarray


def read_frame_motion(video: str | os.PathLike, frame: int) -> FrameMotion | None:
    """The ground truth of one frame of a dataset video, or None when the video has none
    (reads three members only).

    Raises:
        TPSMMError: the file is not a ground-truth file, or has no such frame.
    """
    path = ground_truth_path(video)
    if not path.is_file():
        return None
    try:
        with np.load(path) as data:
            deformation, valid, camera = data["deformation"], data["valid"], data["camera"]
    except (OSError, KeyError, ValueError) as error:
        raise TPSMMError(f"{path}: not a tpsmm ground-truth file ({error})") from None
    if not 0 <= frame < len(deformation):
        raise TPSMMError(f"{path}: no frame {frame} (it has {len(deformation)})")
    return FrameMotion(deformation[frame], valid[frame], camera[frame].astype(np.float32))


def _write_video(folder: Path, name: str, video: SyntheticVideo) -> None:
    frames = folder / name
    frames.mkdir()
    for index, frame in enumerate(video.frames):
        save_image(frames / f"{index:06d}.png", frame)
    truth = video.truth
    np.savez(
        ground_truth_path(frames),
        **truth._asdict(),
        frame_size=np.int64(video.frames.shape[1]),
        format_version=np.int64(FORMAT_VERSION),
    )


def _render_and_write(
    folder: Path, index: int, seed: int, params: RenderParams, image_set: str
) -> int:
    """Render video ``index`` and write it into ``folder`` (run in a worker process)."""
    video = render_video(np.random.default_rng([seed, index]), params, photo_pool(image_set).photos)
    _write_video(folder, f"synth-{index:05d}", video)
    return index


def _one_thread() -> None:
    # Rendering is many small tensor operations: one thread per process is several
    # times faster than two fighting over the cores.
    torch.set_num_threads(1)


def _write_frames(folder: Path, frames: np.ndarray) -> None:
    folder.mkdir()
    for index, frame in enumerate(frames):
        save_image(folder / f"{index:06d}.png", frame)


def _sample_video(size: int) -> np.ndarray:
    """The bundled sample video's frames, centre-cropped and resized to ``size``."""
    asset = resources.files("tpsmm") / "assets" / "driving.mp4"
    with resources.as_file(asset) as path:
        frames = read_video(path)
    return np.stack([fit_frame(frame, size, "crop") for frame in frames])


def _write_sample_clips(root: Path, size: int, count: int) -> None:
    """``count`` overlapping clips of the sample video's training part into train/, its
    held-out part into test/."""
    frames = _sample_video(size)
    keep = int(len(frames) * SAMPLE_TRAIN_FRACTION)
    length = min(SAMPLE_CLIP_FRAMES, keep)
    starts = np.linspace(0, keep - length, count).round().astype(int)
    for index, start in enumerate(starts):
        _write_frames(root / "train" / f"sample#{index:02d}", frames[start : start + length])
    _write_frames(root / "test" / "sample-heldout", frames[keep:])


@contextmanager
def _staging_folder(root: Path) -> Iterator[Path]:
    """A hidden folder beside ``root``, renamed onto it on success and removed on any
    failure or interruption, so ``root`` never holds half a dataset."""
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise TPSMMError(f"{root} already exists and is not an empty folder")
    root.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{root.name}.partial-", dir=root.parent))
    umask = os.umask(0)
    os.umask(umask)
    staging.chmod(0o777 & ~umask)  # mkdtemp's folder is private; the dataset is not
    try:
        yield staging
        if root.exists():
            root.rmdir()
        os.replace(staging, root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def write_dataset(
    root: str | os.PathLike,
    num_videos: int,
    *,
    seed: int = 0,
    params: RenderParams | None = None,
    image_set: str = "train",
    test_fraction: float = 0.2,
    sample_clips: int = 0,
    workers: int = 0,
    progress: bool = False,
    on_video: Callable[[int], None] | None = None,
) -> SynthSummary:
    """Render ``num_videos`` synthetic videos into ``root`` (see the module docstring).

    Args:
        root: the dataset folder to create (must not exist, or be empty).
        num_videos: videos in all; the last ``round(num_videos * test_fraction)`` (at
            least one when ``num_videos > 1`` and the fraction is positive) go to test/.
        seed: the dataset's seed.
        params: frame size, frame count, amplitudes (:class:`RenderParams`).
        image_set: the photos for the textures: ``train`` or ``heldout``
            (:mod:`tpsmm.synthetic.textures`).
        test_fraction: in [0, 1] (1: every video in test/, for a held-out set).
        sample_clips: clips of the bundled sample video to add (0: none).
        workers: processes rendering in parallel (0: in this process); the videos do not
            depend on it.
        progress: show a progress bar.
        on_video: called with each video's index once written.

    Raises:
        TPSMMError: a bad argument, an existing non-empty ``root``, or missing photos.
    """
    params = params or RenderParams()
    if num_videos < 1:
        raise TPSMMError(f"--videos must be at least 1, got {num_videos}")
    if params.num_frames < 2:
        raise TPSMMError(f"--frames must be at least 2, got {params.num_frames}")
    if params.frame_size < 16:
        raise TPSMMError(f"--size must be at least 16 pixels, got {params.frame_size}")
    if not 0 <= test_fraction <= 1:
        raise TPSMMError(f"--test-fraction must be in [0, 1], got {test_fraction}")
    if sample_clips < 0:
        raise TPSMMError(f"--sample-clips must not be negative, got {sample_clips}")
    num_test = round(num_videos * test_fraction)
    if test_fraction > 0 and num_videos > 1:
        num_test = max(num_test, 1)
    if workers < 0:
        raise TPSMMError(f"--workers must not be negative, got {workers}")
    num_train = num_videos - num_test
    pool = photo_pool(image_set)
    root = Path(root)
    with _staging_folder(root) as staging:
        for split in ("train", "test"):
            (staging / split).mkdir()
        jobs = [
            (staging / ("train" if index < num_train else "test"), index, seed, params, image_set)
            for index in range(num_videos)
        ]
        bar = tqdm(total=num_videos, desc="synth", unit="video", disable=not progress)
        if workers:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(workers, context, initializer=_one_thread) as executor:
                done = executor.map(_render_and_write, *zip(*jobs, strict=True))
                for index in done:
                    bar.update()
                    if on_video is not None:
                        on_video(index)
        else:
            for job in jobs:
                index = _render_and_write(*job)
                bar.update()
                if on_video is not None:
                    on_video(index)
        bar.close()
        if sample_clips:
            _write_sample_clips(staging, params.frame_size, sample_clips)
        manifest = {
            "format_version": FORMAT_VERSION,
            "seed": seed,
            "videos": num_videos,
            "train": num_train,
            "test": num_test,
            "sample_clips": sample_clips,
            "image_set": image_set,
            "photos": list(pool.sources),
            "render": asdict(params),
        }
        (staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    return SynthSummary(root, num_train, num_test, sample_clips)
