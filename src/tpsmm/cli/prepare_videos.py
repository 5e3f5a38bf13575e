"""``tpsmm prepare-videos RAW_DIR OUT_ROOT``: raw videos -> a training dataset.

See :mod:`tpsmm.data.prepare`. Exit status 0 when clips were written, 1 when none
was (the report says why).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tpsmm.data.prepare import (
    DEFAULT_MIN_FRAMES,
    DEFAULT_TEST_FRACTION,
    FORMATS,
    KINDS,
    REPORT_NAME,
    PrepareOptions,
    parse_box,
    prepare_videos,
)


def register(subparsers: Any) -> None:
    """Add ``prepare-videos`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "prepare-videos",
        help="crop raw videos into a training dataset (train/ and test/)",
        description=(
            "Cut every video under RAW_DIR into square clips in the authors' training "
            "layout under OUT_ROOT (train/ and test/, split by raw video): with --kind "
            "face, clips follow the face (one crop per clip with the authors' training "
            "margin; a clip ends where the face is lost, at a shot change or where the "
            "face leaves its crop); with --kind box, every frame is cut to --box and clips "
            "end at shot changes. Clips shorter than --min-frames are dropped. Videos "
            f"run in parallel processes; the report (also in OUT_ROOT/{REPORT_NAME}) "
            "lists what was written and what was skipped and why. The result passes "
            "`tpsmm dataset check` and trains with `tpsmm train --data OUT_ROOT`."
        ),
    )
    parser.add_argument("raw_dir", metavar="RAW_DIR", help="folder of raw videos (any depth)")
    parser.add_argument("out_root", metavar="OUT_ROOT", help="the dataset folder to fill")
    parser.add_argument(
        "--kind", default="face", choices=KINDS, help="follow the face (default) or a fixed box"
    )
    parser.add_argument(
        "--box", type=parse_box, metavar="x,y,w,h", help="with --kind box: the pixels to keep"
    )
    parser.add_argument(
        "--size", type=int, default=256, metavar="N", help="output frames N x N (default 256)"
    )
    parser.add_argument(
        "--min-frames",
        type=int,
        default=DEFAULT_MIN_FRAMES,
        metavar="N",
        help=f"drop clips shorter than N frames (default {DEFAULT_MIN_FRAMES})",
    )
    parser.add_argument(
        "--format",
        default="mp4",
        choices=FORMATS,
        help="mp4 (H.264, near lossless; default) or png (a folder of frames per clip)",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=DEFAULT_TEST_FRACTION,
        metavar="F",
        help=f"share of the raw videos put in test/ (default {DEFAULT_TEST_FRACTION})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the train/test split (0)")
    parser.add_argument(
        "--test-videos",
        metavar="NAMES",
        type=lambda text: tuple(name for name in text.split(",") if name),
        default=(),
        help=(
            "comma-separated raw videos (file names without suffix, with their folders "
            "under RAW_DIR joined by _) to put in test/, every other video in train/ "
            "(instead of --test-fraction): identities kept out of training"
        ),
    )
    parser.add_argument(
        "--stills",
        action="store_true",
        help="also cut still images (portraits) into clips of one frame, around their face "
        "with --kind face: more identities for training the keypoint detector",
    )
    parser.add_argument(
        "--jobs", "-j", type=int, metavar="N", help="worker processes (default: the CPU count)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tpsmm prepare-videos``; prints the report, returns 0 or 1."""
    options = PrepareOptions(
        kind=args.kind,
        box=args.box,
        size=args.size,
        min_frames=args.min_frames,
        format=args.format,
        test_fraction=args.test_fraction,
        seed=args.seed,
        test_videos=args.test_videos,
        stills=args.stills,
    )
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(unit="video", file=sys.stderr, leave=False)

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    try:
        report = prepare_videos(
            args.raw_dir, args.out_root, options, jobs=args.jobs, on_video=progress
        )
    finally:
        if bar is not None:
            bar.close()
    print(report.format())
    return 0 if report.written else 1
