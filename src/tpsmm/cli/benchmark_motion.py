"""``tpsmm benchmark-motion``: reconstruction and motion error on videos with known motion.

Example::

    tpsmm synth --out data/heldout --videos 20 --images heldout --seed 1000
    tpsmm benchmark-motion --checkpoint demo --data data/heldout --out eval/demo

Prints a table (per video and overall: L1 beside the no-motion baseline, end-point error
beside the identity deformation's) and writes ``DIR/motion.json`` and ``DIR/motion.png``
(see :mod:`tpsmm.evaluation.motion`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tpsmm.cli.options import add_device_argument
from tpsmm.cli.train import positive_int
from tpsmm.files import check_writable_folder

DEFAULT_OUT = "benchmark-motion"


def register(subparsers: Any) -> None:
    """Add ``benchmark-motion`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "benchmark-motion",
        help="reconstruction L1 and motion end-point error on videos with known motion",
        description=(
            "The paper's reconstruction protocol on a dataset's test videos (frame 0 is the "
            "source, the background predictor on when present), reporting reconstruction "
            "L1 beside the no-motion baseline (the source frame as the prediction) and, for "
            "videos with ground truth (tpsmm synth), the end-point error in pixels of the "
            "predicted deformation on the pixels visible in frame 0, beside the identity "
            "deformation's."
        ),
    )
    parser.add_argument(
        "--checkpoint", required=True, metavar="FILE", help="the model (a file, or demo)"
    )
    parser.add_argument(
        "--data", required=True, metavar="ROOT", help="dataset folder (its test/ videos)"
    )
    parser.add_argument(
        "--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder ({DEFAULT_OUT})"
    )
    parser.add_argument("--config", help="preset name or YAML file (default: the checkpoint's)")
    parser.add_argument(
        "--max-videos", type=positive_int, metavar="N", help="only the first N test videos"
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=16, metavar="N", help="frames per pass (16)"
    )
    parser.add_argument(
        "--grid-videos", type=int, default=6, metavar="N", help="videos in motion.png (6)"
    )
    add_device_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_benchmark_motion)


def run_benchmark_motion(args: argparse.Namespace) -> int:
    """Run ``tpsmm benchmark-motion``; returns the exit status."""
    from tpsmm.checkpoint import load_model
    from tpsmm.data import evaluation_dataset
    from tpsmm.evaluation.motion import GRID_NAME, REPORT_NAME, benchmark_motion, format_table
    from tpsmm.runtime import resolve_device

    check_writable_folder(args.out)
    model = load_model(args.checkpoint, args.config, device=resolve_device(args.device))
    dataset = evaluation_dataset(model.config.dataset_params, args.data)
    report = benchmark_motion(
        model,
        dataset,
        args.out,
        args.batch_size,
        max_videos=args.max_videos,
        checkpoint=args.checkpoint,
        grid_videos=max(args.grid_videos, 0),
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(format_table(report))
    out = Path(args.out)
    print(f"report {out / REPORT_NAME}, pictures {out / GRID_NAME}")
    return 0
