"""``tpsmm benchmark-faces``: how a model animates real faces, measured with dlib.

Example::

    tpsmm benchmark-faces --videos faces/test --sources portraits --out eval/faces.json

Prints a table (reconstruction per video; cross-identity overall, per video and per
source; the measure's ceiling) and writes the JSON report and, beside it, a picture grid
(``eval/faces.png``). The formulas are in :mod:`tpsmm.evaluation.face_benchmark`,
:mod:`tpsmm.evaluation.face_signals` and :mod:`tpsmm.evaluation.folding`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tpsmm.cli.animate import (
    CHECKPOINT_ENV,
    CHECKPOINT_SOURCE,
    DEFAULT_CHECKPOINT,
    checkpoint_path,
    load_model_from_args,
)
from tpsmm.cli.options import add_device_argument, add_dtype_argument
from tpsmm.cli.train import positive_int
from tpsmm.errors import TPSMMError
from tpsmm.evaluation.face_signals import MIN_CEILING

DEFAULT_OUT = "benchmark-faces.json"
#: Defaults that keep a run of 5 videos and 8 sources to minutes on a 2-core CPU.
DEFAULT_MAX_FRAMES = 48
DEFAULT_FRAME_STEP = 2


def register(subparsers: Any) -> None:
    """Add ``benchmark-faces`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "benchmark-faces",
        help="how a model animates real faces: reconstruction, cross-identity motion "
        "transfer, identity and folding",
        description=(
            "Measure a model on face videos cut in the training style (tpsmm "
            "prepare-videos --kind face) and portraits, with dlib's 68 landmarks and "
            "identity embeddings (the eval extra). Reconstruction (the paper's protocol: "
            "the first frame driven by every frame in standard mode): L1, AKD and AED "
            "beside the no-motion baseline. Cross-identity (every source driven by every "
            "video in relative mode, as tpsmm animate): Pearson's r over time between the "
            "driving frames' and the results' mouth opening, eye opening, head yaw, pitch "
            "and roll; the identity distance to the source; the share of results with a "
            "face; the share of face cells where the deformation folds. Non-square video "
            "frames are cut to their centred square; sources are cut around their face as "
            "tpsmm animate --crop-face does. See the README for every formula."
        ),
    )
    parser.add_argument(
        "--videos", required=True, metavar="DIR", help="folder of face videos (files or "
        "folders of frames), or one folder of frames",
    )  # fmt: skip
    parser.add_argument(
        "--sources",
        metavar="DIR",
        help="folder of portraits (default: each video's first frame drives by the others)",
    )
    parser.add_argument(
        "--out",
        default=DEFAULT_OUT,
        metavar="REPORT.json",
        help=f"the JSON report; the grid goes beside it as .png (default {DEFAULT_OUT})",
    )
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help=f"the model (default: ${CHECKPOINT_ENV}, else {DEFAULT_CHECKPOINT}, the bundled "
        f"model); the published weights: {CHECKPOINT_SOURCE}",
    )
    parser.add_argument("--config", metavar="NAME|YAML", help="default: the checkpoint's own")
    parser.add_argument(
        "--max-frames",
        type=positive_int,
        default=DEFAULT_MAX_FRAMES,
        metavar="N",
        help=f"keep at most N frames of each video (default {DEFAULT_MAX_FRAMES})",
    )
    parser.add_argument(
        "--frame-step",
        type=positive_int,
        default=DEFAULT_FRAME_STEP,
        metavar="K",
        help=f"keep frames 0, K, 2K, ... (default {DEFAULT_FRAME_STEP})",
    )
    parser.add_argument(
        "--all-frames", action="store_true", help="every frame (--frame-step 1, no --max-frames)"
    )
    parser.add_argument(
        "--identity-frames",
        type=int,
        default=8,
        metavar="N",
        help="frames of each sequence whose identity embedding is computed, evenly spaced "
        "(about 0.2 s each on a 2-core CPU; default 8; 0: no AED or identity distance)",
    )
    parser.add_argument(
        "--analysis-size",
        type=positive_int,
        default=256,
        metavar="A",
        help="frames are brought to A x A for dlib (default 256); AKD is in its pixels",
    )
    parser.add_argument(
        "--min-ceiling",
        type=float,
        default=MIN_CEILING,
        metavar="R",
        help="a video's signal counts in the means of r when the same signal of its own "
        f"frames at the model's size correlates with it by at least R (default {MIN_CEILING})",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=8, metavar="N", help="frames per pass (8)"
    )
    parser.add_argument(
        "--grid-pairs",
        type=int,
        default=4,
        metavar="N",
        help="cross-identity pairs in the picture grid (default 4; 0: no grid)",
    )
    add_device_argument(parser)
    add_dtype_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(func=run_benchmark_faces)


def run_benchmark_faces(args: argparse.Namespace) -> int:
    """Run ``tpsmm benchmark-faces``; returns the exit status."""
    from tpsmm.evaluation.compare import Evaluator
    from tpsmm.evaluation.face_benchmark import Settings
    from tpsmm.evaluation.face_extractor import CropFaceKeypoints
    from tpsmm.evaluation.face_inputs import list_images, list_videos
    from tpsmm.evaluation.face_report import benchmark_faces, write_outputs
    from tpsmm.evaluation.face_table import format_table
    from tpsmm.files import check_writable_folder
    from tpsmm.runtime import describe

    if Path(args.out).suffix.lower() == ".png":
        raise TPSMMError(f"{args.out}: --out names the JSON report (the grid goes beside it)")
    check_writable_folder(Path(args.out).parent, args.out)
    list_videos(args.videos)  # a missing or empty folder fails before anything loads
    if args.sources is not None:
        list_images(args.sources)
    # dlib's models load before the network's: without the eval extra, one line at once
    evaluator = Evaluator("face", extractor=CropFaceKeypoints(args.analysis_size))
    checkpoint = checkpoint_path(args)
    model = load_model_from_args(args, checkpoint)
    settings = Settings(
        analysis_size=args.analysis_size,
        batch_size=args.batch_size,
        identity_frames=max(args.identity_frames, 0),
        min_ceiling=args.min_ceiling,
    )
    report, grid = benchmark_faces(
        model,
        args.videos,
        args.sources,
        settings,
        max_frames=None if args.all_frames else args.max_frames,
        frame_step=1 if args.all_frames else args.frame_step,
        grid_pairs=max(args.grid_pairs, 0),
        evaluator=evaluator,
        progress=not args.no_progress and sys.stderr.isatty(),
        note=lambda line: print(f"note: {line}", file=sys.stderr),
    )
    parameter = next(model.parameters())
    report["checkpoint"] = checkpoint
    report["settings"]["precision"] = describe(parameter.device, model.compute_dtype)
    print(format_table(report))
    written = write_outputs(report, grid, args.out)
    print(
        f"{report['seconds']:.0f} s, {report['cpu_seconds']:.0f} s of CPU time "
        f"({report['settings']['precision']}); "
        f"report {written[0]}" + (f", pictures {written[1]}" if len(written) > 1 else "")
    )
    return 0
