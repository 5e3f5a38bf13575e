"""The ``tpsmm`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``(args) -> int``. A :class:`tpsmm.errors.TPSMMError` ends the command with its message
on one line and exit status 2; no traceback is printed for problems a user caused.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from tpsmm.errors import TPSMMError

# Sub-command modules, in the order `tpsmm --help` lists them.
SUBCOMMAND_MODULES: tuple[str, ...] = (
    "animate",
    "motion",
    "demo",
    "train",
    "train_avd",
    "reconstruct",
    "evaluate",
    "dataset",
    "prepare_videos",
    "synth",
    "benchmark_motion",
    "serve",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="tpsmm",
        description="Thin-Plate Spline Motion Model: animate, train and evaluate.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name in SUBCOMMAND_MODULES:
        importlib.import_module(f"tpsmm.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``tpsmm`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except TPSMMError as error:
        print(f"tpsmm {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"tpsmm {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
