"""The ``tpsmm`` command line.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable
``(args) -> int``. How a command ends:

- a :class:`tpsmm.errors.TPSMMError` (a problem the user caused): its message on one
  line, exit status 2; an ``OSError`` that no command turned into one (a file that cannot
  be written, a full disk) likewise, naming the file;
- SIGINT (Ctrl-C), SIGTERM or SIGHUP, at any moment from start-up on: one line, exit
  status 130, 143 or 129. :func:`tpsmm.signals.install` runs before any heavy import
  (torch), and turns SIGTERM and SIGHUP into :class:`tpsmm.signals.Terminated`, a
  ``KeyboardInterrupt``, so the writers' cleanups remove their temporary outputs.

This module imports nothing heavy itself, so that the handlers are in place before torch
is loaded.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any

from tpsmm import signals
from tpsmm.errors import TPSMMError, TPSMMWarning, describe_os_error

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
    "benchmark_faces",
    "serve",
    "live",
    "export",
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
    """Entry point of the ``tpsmm`` console script; returns the exit status.

    With ``argv`` None (the program itself), once the command has ended the signals get
    their system default back (:func:`tpsmm.signals.default_at_exit`): one that comes
    while the process exits kills it quietly. Called with ``argv`` from Python, it puts the previous handlers
    back when it returns, and a signal that stopped the command (after its line and its
    cleanup) is raised again for them, so that the calling program stops as it would
    have: ``KeyboardInterrupt`` for Ctrl-C, the previous SIGTERM handling (by default
    the end of the process) for SIGTERM.
    """
    previous = signals.install()
    arguments = sys.argv[1:] if argv is None else list(argv)
    prog = _prog(arguments)
    stopped_by: int | None = None
    try:
        args = build_parser().parse_args(arguments)
        with warnings.catch_warnings():
            warnings.simplefilter("default", TPSMMWarning)
            warnings.showwarning = _one_line_warnings(prog, warnings.showwarning)
            return int(args.func(args) or 0)
    except TPSMMError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{prog}: error: {describe_os_error(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        stopped_by = signals.signal_of(interrupt)
        return _stopped(prog, interrupt)
    except Exception:
        # A signal whose exception a C extension turned into an error of its own (numpy
        # interrupted while being imported raises ImportError) still ends in one line.
        stopped_by = signals.received()
        if stopped_by is None:
            raise
        return _stopped(prog, signals.Terminated(stopped_by))
    finally:
        if argv is None:
            signals.default_at_exit(previous)
        else:
            signals.restore(previous)
            if stopped_by is not None:
                signal.raise_signal(stopped_by)


def _stopped(prog: str, interrupt: KeyboardInterrupt) -> int:
    """Print the one line of a command stopped by a signal; returns its exit status."""
    detail = getattr(interrupt, "detail", None)
    line = signals.describe(interrupt) + (f": {detail}" if detail else "")
    print(f"{prog}: {line}", file=sys.stderr)
    return signals.exit_status(interrupt)


def _prog(arguments: Sequence[str]) -> str:
    """``tpsmm COMMAND`` for messages, from the first argument that names a command
    (known before the parser, so a signal during start-up is reported the same way)."""
    for argument in arguments:
        if not argument.startswith("-"):
            return (
                f"tpsmm {argument}" if argument.replace("-", "_") in SUBCOMMAND_MODULES else "tpsmm"
            )
        if argument in ("-h", "--help"):
            break
    return "tpsmm"


def _one_line_warnings(prog: str, show: Callable[..., Any]) -> Callable[..., Any]:
    """A ``warnings.showwarning`` that prints a :class:`TPSMMWarning` as one line
    (``tpsmm COMMAND: warning: ...``, ``note`` for notices) and leaves other warnings to
    ``show``."""

    def showwarning(message: Any, category: type[Warning], *rest: Any, **kwargs: Any) -> None:
        if issubclass(category, TPSMMWarning):
            print(f"{prog}: {category.label}: {message}", file=sys.stderr, flush=True)
        else:
            show(message, category, *rest, **kwargs)

    return showwarning


if __name__ == "__main__":
    sys.exit(main())
