"""``tpsmm reconstruct``: the paper's video-reconstruction evaluation (the authors'
``run.py --mode reconstruction``).

Example::

    tpsmm reconstruct --checkpoint vox.pth.tar --data /data/vox --out eval/vox

Writes ``DIR/report.json`` (per-video and mean L1) and ``DIR/png/<video>.png`` (driving
frames over their reconstructions); prints the mean L1. With ``--metrics`` the report
also holds L1, AKD, MKR and AED of the reconstructions against the driving frames (as
``tpsmm evaluate`` measures them), and the table is printed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tpsmm.cli.evaluate import add_metric_arguments, make_evaluator
from tpsmm.cli.options import add_device_argument, add_dtype_argument
from tpsmm.cli.train import positive_int
from tpsmm.files import check_writable_folder

#: Config names whose footage is bodies (the rest: faces) for --metrics without --kind.
BODY_CONFIGS = ("taichi", "ted")


def register(subparsers: Any) -> None:
    """Add ``reconstruct`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "reconstruct",
        help="evaluate video reconstruction (L1) on a dataset's test videos",
        description=(
            "Reconstruct each test video from its first frame (background predictor on "
            "when the model has one) and report the per-video and mean L1 distance "
            "between the driving frames and the reconstructions."
        ),
    )
    parser.add_argument("--checkpoint", required=True, metavar="FILE", help="the model")
    parser.add_argument(
        "--data", required=True, metavar="ROOT", help="dataset folder (its test/ videos)"
    )
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created)")
    parser.add_argument(
        "--config", help="preset name or YAML file (default: the checkpoint's config)"
    )
    parser.add_argument(
        "--max-videos", type=positive_int, metavar="N", help="only the first N test videos"
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=16,
        metavar="N",
        help="driving frames per forward pass (default 16)",
    )
    add_device_argument(parser)
    add_dtype_argument(parser, default="float32")
    parser.add_argument(
        "--workers", type=int, default=0, metavar="N", help="video loading processes (0)"
    )
    parser.add_argument("--no-images", action="store_true", help="write only the report")
    parser.add_argument(
        "--metrics",
        nargs="?",
        const="all",
        metavar="LIST",
        help="also measure L1, AKD, MKR and AED of the reconstructions (as tpsmm evaluate; "
        "a comma-separated subset of l1,akd,mkr,aed, default all)",
    )
    add_metric_arguments(parser, kind_default=None)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_reconstruct)


def run_reconstruct(args: argparse.Namespace) -> int:
    """Run ``tpsmm reconstruct``; returns the exit status."""
    from tpsmm.animation.animator import load_animation_model
    from tpsmm.data import evaluation_dataset
    from tpsmm.evaluation import REPORT_NAME, reconstruct

    check_writable_folder(args.out)
    model = load_animation_model(args.checkpoint, args.config, device=args.device, dtype=args.dtype)
    evaluator = None
    if args.metrics is not None:
        body = (model.config.name or "").startswith(BODY_CONFIGS)
        kind = args.kind or ("body" if body else "face")
        evaluator = make_evaluator(args, kind, None if args.metrics == "all" else args.metrics)
    dataset = evaluation_dataset(model.config.dataset_params, args.data)
    report = reconstruct(
        model,
        dataset,
        args.out,
        args.batch_size,
        max_videos=args.max_videos,
        checkpoint=args.checkpoint,
        save_images=not args.no_images,
        workers=max(args.workers, 0),
        progress=not args.no_progress and sys.stderr.isatty(),
        evaluator=evaluator,
    )
    if evaluator is not None:
        from tpsmm.evaluation import format_table

        print(format_table(report["metrics"]))
    print(
        f"L1 {report['mean_l1']:.6f} over {report['num_frames']} frames of "
        f"{report['num_videos']} videos; report {Path(args.out) / REPORT_NAME}"
    )
    return 0
