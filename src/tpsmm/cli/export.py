"""``tpsmm export``: write a checkpoint as ONNX graphs for deployment (see
:mod:`tpsmm.export`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tpsmm.animation.keypoints import MODES
from tpsmm.cli.animate import CHECKPOINT_ENV, checkpoint_path, say_if_bundled
from tpsmm.errors import TPSMMError
from tpsmm.files import check_writable_folder

FORMATS = ("onnx",)

EPILOG = """\
what the folder holds:
  source.onnx          source (1,3,H,W) -> kp_source, source_small, feature_0..3 (once per source)
  reference.onnx       reference frame, kp_source -> kp_reference, movement_scale (relative mode)
  frames_<mode>.onnx   driving (B,3,H,W) + the source state [+ kp_reference, movement_scale]
                       -> frames (B,3,H,W), for mode standard, relative, avd
  frames_<mode>_background.onnx   the same with the background predictor
  weights.bin          the weights, shared by all graphs (ONNX external data)
  manifest.json        config, input/output names and shapes, versions, checkpoint SHA-256
Images are float32 in [0, 1]; B is dynamic. Animate with:
  tpsmm animate --backend onnxruntime --onnx DIR --source S --driving D --output O
"""


def register(subparsers: Any) -> None:
    """Add ``export`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint as ONNX graphs (onnxruntime, TensorRT, ...)",
        description=(
            "Export the streaming animation as ONNX graphs (opset >= 17, dynamic batch, "
            "checked with onnx.checker): the source encoded once, relative mode's "
            "reference, and the frames of every mode, with a JSON manifest. Needs the "
            "onnx extra: pip install 'tpsmm[onnx]'."
        ),
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help=f"the weights: the authors' .pth.tar or a tpsmm checkpoint (default: ${CHECKPOINT_ENV})",
    )
    parser.add_argument(
        "--config", metavar="NAME|YAML", help="a preset or YAML file; default: the checkpoint's own"
    )
    parser.add_argument(
        "--format", default="onnx", choices=FORMATS, help="the export format (onnx)"
    )
    parser.add_argument("--out", "-o", metavar="DIR", required=True, help="a new or empty folder")
    parser.add_argument(
        "--modes",
        nargs="+",
        metavar="MODE",
        help=f"frames graphs to write, of {', '.join(MODES)} (default: all the checkpoint "
        "supports; avd needs an AVD network)",
    )
    parser.add_argument(
        "--background",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also write the frames graphs with the background predictor (default: when "
        "the checkpoint has one)",
    )
    parser.add_argument(
        "--opset", type=int, default=18, help="ONNX opset, 17 or later (default 18)"
    )
    parser.add_argument(
        "--no-check", action="store_true", help="skip onnx.checker's full check of the graphs"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``tpsmm export``; returns the exit status."""
    from tpsmm.checkpoint import load_model
    from tpsmm.export import export_onnx
    from tpsmm.export.requirements import require_onnx

    require_onnx("tpsmm export")
    checkpoint = checkpoint_path(args)
    if args.modes:
        unknown = [mode for mode in args.modes if mode not in MODES]
        if unknown:
            raise TPSMMError(f"unknown mode {unknown[0]!r}; choose from {', '.join(MODES)}")
    check_writable_folder(Path(args.out).parent, args.out)
    say_if_bundled(args, checkpoint)
    model = load_model(checkpoint, args.config)

    def report(line: str) -> None:
        if not args.quiet:
            print(f"wrote {line}", file=sys.stderr, flush=True)

    manifest = export_onnx(
        model,
        args.out,
        checkpoint=checkpoint,
        modes=args.modes,
        background=args.background,
        opset=args.opset,
        check=not args.no_check,
        progress=report,
    )
    if not args.quiet:
        graphs = ", ".join(manifest.graphs)
        megabytes = manifest.weights["bytes"] / 2**20
        print(
            f"wrote {args.out}: {len(manifest.graphs)} graphs ({graphs}), weights "
            f"{megabytes:.1f} MiB, opset {manifest.opset}, in {manifest.export_seconds:.0f} s"
        )
    return 0
