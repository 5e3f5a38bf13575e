"""``tpsmm train-avd``: train the AVD network of a trained model (the authors'
``run.py --mode train_avd``).

Example::

    tpsmm train-avd --checkpoint runs/vox/checkpoint.pth.tar --data /data/vox

The keypoint detector stays frozen in eval mode; the result, ``RUN/checkpoint.pth.tar``
(default RUN: ``avd/`` next to the checkpoint), holds every network with the trained AVD
network, ready for ``--mode avd``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tpsmm.cli.train import (
    add_run_arguments,
    checkpoint_config,
    run_options,
    run_stage_command,
    stage_config,
)


def register(subparsers: Any) -> None:
    """Add ``train-avd`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "train-avd",
        help="train the AVD network of a trained model (for --mode avd)",
        description=(
            "Train only the animation-via-disentanglement network on keypoints of a "
            "trained model (frozen, in eval mode: its BatchNorm statistics are kept). "
            "Writes RUN/checkpoint.pth.tar with all networks and the trained AVD network. "
            "Ctrl-C or SIGTERM saves the step reached and exits (status 130 or 143); "
            "--resume continues exactly from it."
        ),
    )
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="the trained model (required unless --resume)",
    )
    parser.add_argument(
        "--config",
        help="preset name or YAML file (default: the config stored in the checkpoint)",
    )
    parser.add_argument(
        "--out", metavar="RUN", help="run folder (default: avd/ next to the checkpoint)"
    )
    add_run_arguments(parser)
    parser.set_defaults(func=run_train_avd)


def run_train_avd(args: argparse.Namespace) -> int:
    """Run ``tpsmm train-avd``; returns the exit status."""
    from tpsmm.errors import ConfigError
    from tpsmm.training.avd import train_avd

    if args.checkpoint and args.resume:
        raise ConfigError("--checkpoint starts a new run and --resume continues one: pass one")
    if not args.checkpoint and not args.resume:
        raise ConfigError("train-avd needs the trained model's --checkpoint (or --resume RUN)")
    config = stage_config(
        args, "train_avd_params", "avd", lambda: checkpoint_config(args.checkpoint)
    )
    default_out = Path(args.checkpoint).parent / "avd" if args.checkpoint else None
    options = run_options(args, default_out)
    return run_stage_command(
        "train-avd",
        lambda: train_avd(config, options, init_checkpoint=args.checkpoint, resume=args.resume),
    )
