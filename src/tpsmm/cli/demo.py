"""``tpsmm demo``: animate the sample face bundled with the package and say where the
result is.

The sample is ``tpsmm/assets/source.png`` driven by ``tpsmm/assets/driving.mp4`` (the
inputs of the authors' demo). The weights are those of the small model bundled with
tpsmm (``demo``, see :mod:`tpsmm.pretrained`) unless ``--checkpoint FILE`` or
``$TPSMM_CHECKPOINT`` names others (the authors' ``vox.pth.tar`` gives their quality).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from tpsmm.cli.animate import (
    EPILOG,
    add_job_arguments,
    add_model_arguments,
    animate_one,
    job_options,
    model_source,
)

DEFAULT_OUTPUT = "tpsmm-demo.mp4"
SAMPLE_SOURCE = "source.png"
SAMPLE_DRIVING = "driving.mp4"


def register(subparsers: Any) -> None:
    """Add ``demo`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "demo",
        help="animate the sample face bundled with tpsmm",
        description=(
            "Animate the sample bundled with tpsmm (a face photo driven by a short talking-"
            "head video) and print where the result is: by default a side-by-side "
            f"source | driving | result video, {DEFAULT_OUTPUT} in the current folder."
        ),
        epilog=EPILOG.split("\n\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--output",
        "-o",
        default=DEFAULT_OUTPUT,
        metavar="OUT",
        help=f"the result (default {DEFAULT_OUTPUT}; .gif or a folder also work)",
    )
    add_model_arguments(parser)
    add_job_arguments(parser, side_by_side=True)
    parser.set_defaults(func=run)


@contextmanager
def sample_paths() -> Iterator[tuple[Path, Path]]:
    """(source image, driving video) of the bundled sample, as real files."""
    assets = resources.files("tpsmm") / "assets"
    with ExitStack() as stack:
        source = stack.enter_context(resources.as_file(assets / SAMPLE_SOURCE))
        driving = stack.enter_context(resources.as_file(assets / SAMPLE_DRIVING))
        yield source, driving


def run(args: argparse.Namespace) -> int:
    """Run ``tpsmm demo``; returns the exit status."""
    options = job_options(args)
    checkpoint = model_source(args)
    with sample_paths() as (source, driving):
        summary = animate_one(args, options, source, driving, args.output, checkpoint)
    print(f"the result is at {summary.output.resolve()}")
    if not args.quiet:
        print(summary.describe())
    return 0
