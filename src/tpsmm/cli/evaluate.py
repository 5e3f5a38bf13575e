"""``tpsmm evaluate``: L1, AKD, MKR and AED of generated videos against reference videos.

Example::

    tpsmm evaluate --generated eval/vox/generated --reference data/vox/test --out report.json

Prints one row per video and an overall row; ``--out`` writes the JSON report
(:func:`tpsmm.evaluation.evaluate`). The formulas are in :mod:`tpsmm.evaluation.metrics`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tpsmm.cli.train import positive_int

DETECTOR_HELP = (
    "Faces (the eval extra): dlib's 68 landmarks and 128-d embeddings. Bodies (the body "
    "extra): MediaPipe Pose's 33 landmarks; no AED."
)
FORMULAS = (
    "L1: mean |generated - reference| over pixels and channels, values in [0, 1]. "
    "AKD (pixels of the reference frame) over keypoints found in both frames: 'akd' the "
    "mean absolute difference per coordinate (what the common scripts compute), "
    "'akd_euclidean' the mean distance. MKR: the share of keypoints found in the reference "
    "that are missing in the generated frame. AED: 'aed' the Euclidean distance of "
    "identity embeddings, 'aed_squared' its square (what the common scripts report). "
    "Frames without a face (person) in the reference count for L1 only."
)


def add_metric_arguments(parser: argparse.ArgumentParser, *, kind_default: str | None) -> None:
    """``--kind``, ``--face-detector`` and ``--upsample``, shared with ``reconstruct``."""
    parser.add_argument(
        "--kind",
        choices=("face", "body"),
        default=kind_default,
        help="what the videos show (default: %(default)s)"
        if kind_default
        else "what the videos show (default: body for taichi and ted configs, else face)",
    )
    parser.add_argument(
        "--face-detector",
        choices=("hog", "cnn"),
        default="hog",
        help="dlib face detector: hog (default) or cnn (finds turned faces; slower)",
    )
    parser.add_argument(
        "--upsample",
        type=int,
        default=1,
        choices=(0, 1, 2),
        help="times the face detector doubles the frame first (default 1: faces from "
        "about 40 pixels wide; 0 is 4x faster and needs 80)",
    )


def register(subparsers: Any) -> None:
    """Add ``evaluate`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "evaluate",
        help="measure L1, AKD, MKR and AED of generated videos against reference videos",
        description=(
            "Compare generated videos with reference videos frame by frame. A and B are "
            "videos, folders of frames or still images, or folders of them matched by name "
            "(a file's name without suffix, a folder's name). Generated frames of another "
            "size are resized to the reference's. " + FORMULAS + " " + DETECTOR_HELP
        ),
    )
    parser.add_argument("--generated", required=True, metavar="A", help="generated video(s)")
    parser.add_argument("--reference", required=True, metavar="B", help="reference video(s)")
    add_metric_arguments(parser, kind_default="face")
    parser.add_argument(
        "--metrics",
        default=None,
        metavar="LIST",
        help="comma-separated subset of l1,akd,mkr,aed (default: all; bodies: no aed)",
    )
    parser.add_argument("--out", metavar="REPORT.json", help="write the JSON report there")
    parser.add_argument(
        "--max-frames", type=positive_int, metavar="N", help="compare at most N frames per video"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_evaluate)


def make_evaluator(args: argparse.Namespace, kind: str, metrics: str | None) -> Any:
    """The :class:`tpsmm.evaluation.Evaluator` of the parsed options."""
    from tpsmm.evaluation import Evaluator

    return Evaluator(kind, metrics, face_detector=args.face_detector, upsample=args.upsample)


def print_notes(report: dict[str, Any]) -> None:
    """Unmatched references and videos of unequal length, on stderr."""
    if report.get("unmatched_reference"):
        names = report["unmatched_reference"]
        shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        print(
            f"note: {len(names)} reference videos have no generated video: {shown}", file=sys.stderr
        )
    for name, entry in report["videos"].items():
        counts = {entry.get("generated_frames"), entry.get("reference_frames")} - {None, 1}
        if len(counts) > 1:
            print(
                f"note: {name}: {entry['generated_frames']} generated and "
                f"{entry['reference_frames']} reference frames; compared {entry['frames']}",
                file=sys.stderr,
            )


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``tpsmm evaluate``; returns the exit status."""
    from tpsmm.evaluation import evaluate, format_table

    evaluator = make_evaluator(args, args.kind, args.metrics)
    report = evaluate(
        args.generated,
        args.reference,
        out=args.out,
        max_frames=args.max_frames,
        evaluator=evaluator,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    print(format_table(report))
    print_notes(report)
    if args.out:
        print(f"report {args.out}")
    return 0
