"""``tpsmm dataset check ROOT``: open every video of a training dataset and report problems.

Exit status 0 when the dataset is usable (warnings allowed), 1 when problems were found,
2 when the root is not a folder (via the dispatcher's error handling).
"""

from __future__ import annotations

import argparse
import re
import sys
from typing import Any


def parse_frame_shape_arg(text: str) -> tuple[int, int]:
    """``"H,W"`` (also ``"HxW"`` or ``"H,W,3"``) to ``(H, W)``; argparse type function."""
    parts = [p for p in re.split(r"[,x\s]+", text.strip().lower()) if p]
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) == 3 and numbers[2] == 3:
        numbers = numbers[:2]
    if len(numbers) != 2 or min(numbers) < 1:
        raise argparse.ArgumentTypeError(f"expected H,W (two positive integers), got {text!r}")
    return numbers[0], numbers[1]


def register(subparsers: Any) -> None:
    """Add ``dataset`` with its ``check`` and ``landmarks`` actions to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "dataset",
        help="inspect a training dataset",
        description="Inspect a training dataset.",
    )
    actions = parser.add_subparsers(dest="dataset_command", metavar="ACTION")
    actions.required = True
    check = actions.add_parser(
        "check",
        help="open every video and report unreadable, empty and one-frame videos",
        description=(
            "Open every video of ROOT (its train/ and test/ folders, or the seeded 80/20 "
            "split of the videos in it) and report unreadable, empty and one-frame videos "
            "and the counts of videos, frames and identities per split. Exit status 1 "
            "when problems were found."
        ),
    )
    check.add_argument("root", metavar="ROOT", help="the dataset folder (dataset_params.root_dir)")
    check.add_argument(
        "--frame-shape",
        type=parse_frame_shape_arg,
        metavar="H,W",
        help="frame size as in dataset_params.frame_shape (needed for strip images)",
    )
    check.add_argument(
        "--seed", type=int, default=0, help="seed of the 80/20 split when there is no train/ (0)"
    )
    check.add_argument(
        "--quick",
        action="store_true",
        help="read only the first frame of each video (counts from listings and containers)",
    )
    check.set_defaults(func=run_check)
    landmarks = actions.add_parser(
        "landmarks",
        help="find the 68 facial landmarks of every frame (for the landmark losses)",
        description=(
            "Find the face in every frame of every video of ROOT (train/ and test/, or the "
            "videos in it) with dlib (the eval extra) and write its 68 landmarks beside each "
            "video as <video>.landmarks.npz, for dataset_params.landmarks and the "
            "landmark losses (landmark_keypoints, landmark_keypoint_motion, landmark_opening, "
            "landmark_flow, landmark_parts, "
            "landmark_regions). Videos that have a landmark file "
            "keep it unless --overwrite. Prints the share of frames with a face per video."
        ),
    )
    landmarks.add_argument("root", metavar="ROOT", help="the dataset folder")
    landmarks.add_argument(
        "--overwrite", action="store_true", help="find the landmarks again where a file exists"
    )
    landmarks.set_defaults(func=run_landmarks)


def run_check(args: argparse.Namespace) -> int:
    """Run ``dataset check``; prints the report, returns 0 (usable) or 1 (problems)."""
    from tpsmm.data.check import check_dataset

    progress = _progress_bar()
    try:
        report = check_dataset(
            args.root,
            args.frame_shape,
            random_seed=args.seed,
            quick=args.quick,
            progress=progress,
        )
    finally:
        if progress is not None:
            progress.close()
    print(report.format())
    return 0 if report.ok else 1


def run_landmarks(args: argparse.Namespace) -> int:
    """Run ``dataset landmarks``: writes the landmark files, prints one line per video."""
    from pathlib import Path

    from tpsmm.data.landmarks import AnnotationResult, annotate_videos
    from tpsmm.data.video_io import list_videos
    from tpsmm.errors import DatasetError
    from tpsmm.faces.tracking import default_finder

    root = Path(args.root)
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder not found")
    folders = [root / name for name in ("train", "test") if (root / name).is_dir()] or [root]
    videos = [video for folder in folders for video in list_videos(folder)]
    if not videos:
        raise DatasetError(f"{root}: no videos found (folders of frames, video files or strips)")
    default_finder()  # a missing eval extra fails here, before any work

    def report(result: AnnotationResult) -> None:
        state = "written" if result.path is not None else "kept"
        print(
            f"{result.video}: {result.found} of {result.frames} frames with a face "
            f"({100 * result.share:.1f}%), {state}",
            flush=True,
        )

    results = annotate_videos(videos, overwrite=args.overwrite, on_video=report)
    frames = sum(result.frames for result in results)
    found = sum(result.found for result in results)
    print(f"{root}: {len(results)} videos, {found} of {frames} frames with a face")
    return 0


class _Bar:
    """A tqdm bar on stderr fed by ``check_dataset``'s progress callback."""

    def __init__(self) -> None:
        from tqdm import tqdm

        self._bar = tqdm(unit="video", file=sys.stderr, leave=False)

    def __call__(self, done: int, total: int, path: Any) -> None:
        self._bar.total = total
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        self._bar.close()


def _progress_bar() -> _Bar | None:
    """A progress bar when stderr is a terminal, else ``None``."""
    return _Bar() if sys.stderr.isatty() else None
