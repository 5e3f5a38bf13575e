"""``tpsmm synth``: write a synthetic dataset whose motion is known.

Example::

    tpsmm synth --out data/synth --videos 200 --frames 32 --size 128 --seed 0

Each video is a textured object moved and deformed smoothly over a background moved by a
camera, written as a folder of PNG frames in the authors' layout (``train/``, ``test/``)
with its ground truth beside it (``<video>.npz``: the deformation from every frame to
frame 0, a validity mask, tracked points; see :mod:`tpsmm.synthetic.dataset`).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from tpsmm.cli.train import positive_int


def register(subparsers: Any) -> None:
    """Add ``synth`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "synth",
        help="write synthetic videos with ground-truth motion (a training/test dataset)",
        description=(
            "Write a dataset of synthetic videos in the authors' layout (ROOT/train, "
            "ROOT/test; each video a folder of PNG frames): a textured object deformed by "
            "smooth random motion (rotation, scale, shift, elastic thin-plate spline) over "
            "a textured background moved by an affine camera, with occlusion. Beside each "
            "video, <video>.npz holds its ground truth: the deformation from every frame to "
            "frame 0 in the model's convention, a validity mask and tracked points. The "
            "same seed gives the same dataset."
        ),
    )
    parser.add_argument("--out", required=True, metavar="ROOT", help="dataset folder (created)")
    parser.add_argument(
        "--videos", type=positive_int, default=100, metavar="N", help="videos in all (100)"
    )
    parser.add_argument(
        "--frames", type=positive_int, default=32, metavar="T", help="frames per video (32)"
    )
    parser.add_argument(
        "--size", type=positive_int, default=128, metavar="S", help="frame size in pixels (128)"
    )
    parser.add_argument("--seed", type=int, default=0, metavar="K", help="random seed (0)")
    parser.add_argument(
        "--images",
        choices=("train", "heldout"),
        default="train",
        help="photos for the textures: train (the bundled sample face and video, "
        "matplotlib's sample photos; default) or heldout (scikit-image's photos, kept for "
        "evaluation: never train on them)",
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        metavar="F",
        help="share of the videos in test/ (0.2)",
    )
    parser.add_argument(
        "--sample-clips",
        type=int,
        default=0,
        metavar="N",
        help="also add N overlapping clips of the bundled sample video's first 80%% to "
        "train/ and its last 20%% to test/ (default 0)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        metavar="N",
        help="rendering processes (default: the cores, at most 4; 0 renders in this process)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    """Run ``tpsmm synth``; returns the exit status."""
    import torch

    from tpsmm.synthetic import RenderParams, write_dataset

    torch.set_num_threads(1)  # small tensor operations: one thread is fastest
    summary = write_dataset(
        args.out,
        args.videos,
        seed=args.seed,
        params=RenderParams(frame_size=args.size, num_frames=args.frames),
        image_set=args.images,
        test_fraction=args.test_fraction,
        sample_clips=args.sample_clips,
        workers=args.workers,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(f"wrote {summary.describe()}")
    return 0
