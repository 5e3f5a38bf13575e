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
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from tpsmm.errors import TPSMMError, TPSMMWarning
from tpsmm.signals import describe, exit_status

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
        with warnings.catch_warnings():
            warnings.simplefilter("default", TPSMMWarning)
            warnings.showwarning = _one_line_warnings(args.command, warnings.showwarning)
            return int(args.func(args) or 0)
    except TPSMMError as error:
        print(f"tpsmm {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:  # Ctrl-C, or SIGTERM as tpsmm.signals.Terminated
        print(f"tpsmm {args.command}: {describe(interrupt)}", file=sys.stderr)
        return exit_status(interrupt)


def _one_line_warnings(command: str, show: Callable[..., Any]) -> Callable[..., Any]:
    """A ``warnings.showwarning`` that prints a :class:`TPSMMWarning` as one line
    (``tpsmm COMMAND: warning: ...``, ``note`` for notices) and leaves other warnings to
    ``show``."""

    def showwarning(message: Any, category: type[Warning], *rest: Any, **kwargs: Any) -> None:
        if issubclass(category, TPSMMWarning):
            print(f"tpsmm {command}: {category.label}: {message}", file=sys.stderr, flush=True)
        else:
            show(message, category, *rest, **kwargs)

    return showwarning


if __name__ == "__main__":
    sys.exit(main())
