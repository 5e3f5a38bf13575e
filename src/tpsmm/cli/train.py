"""``tpsmm train``: train the generator networks (the authors' ``run.py --mode train``).

Examples::

    tpsmm train --config vox-256 --data /data/vox --out runs/vox
    tpsmm train --resume runs/vox                          # continue from its last checkpoint
    torchrun --nproc_per_node 4 -m tpsmm.cli train --config vox-256 --data /data/vox --out runs/vox

The options shared with ``tpsmm train-avd`` (run folder, schedule overrides, precision,
device, seed, ...) are defined here (:func:`add_run_arguments`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tpsmm.cli.options import add_device_argument
from tpsmm.files import check_writable_folder
from tpsmm.runtime import resolve_device, torchrun_env

#: ``tpsmm.training.loop.PRECISIONS``, repeated so that building the parser does not
#: import torch (a test keeps the two equal).
PRECISION_CHOICES = ("fp32", "bf16", "fp16")


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every training stage takes (see ``tpsmm train --help``)."""
    parser.add_argument("--data", metavar="ROOT", help="dataset folder (dataset_params.root_dir)")
    parser.add_argument(
        "--resume",
        metavar="RUN",
        help="continue the run in folder RUN (or from its checkpoint file) from its last "
        "checkpoint, with the data order and random streams it would have had without the "
        "stop; --out defaults to RUN",
    )
    parser.add_argument(
        "--max-steps",
        type=positive_int,
        metavar="N",
        help="stop (and save) after N optimisation steps counted from the start of the run",
    )
    parser.add_argument("--epochs", type=positive_int, metavar="N", help="number of epochs")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="global batch size, split over the torchrun processes",
    )
    parser.add_argument(
        "--checkpoint-every",
        type=positive_int,
        metavar="N",
        help="save RUN/checkpoint.pth.tar (and keep a copy under RUN/checkpoints/) every N "
        "epochs (default: the config's checkpoint_freq: 10 for tpsmm train with the presets, "
        "50 for tpsmm train-avd); also at the end, at --max-steps and on Ctrl-C or SIGTERM",
    )
    parser.add_argument(
        "--checkpoint-minutes",
        type=positive_float,
        metavar="M",
        help="also save RUN/checkpoint.pth.tar after the first step that ends M minutes "
        "after the last save, mid-epoch too, so that a kill -9 or a crash loses at most "
        "about M minutes (default: off)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISION_CHOICES,
        default="fp32",
        help="autocast precision of the forward pass (fp16 needs CUDA; default fp32)",
    )
    add_device_argument(parser)
    parser.add_argument(
        "--seed",
        type=int,
        help="random seed (default 0; a resumed run keeps the seed it started with)",
    )
    parser.add_argument(
        "--sync-bn",
        action="store_true",
        help="SyncBatchNorm across torchrun processes (CUDA only)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="DataLoader worker processes (default: the config's dataloader_workers, at most "
        "the CPU cores this process may use, shared by the torchrun processes of a machine)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: Any) -> None:
    """Add ``train`` to the ``tpsmm`` sub-commands."""
    parser = subparsers.add_parser(
        "train",
        help="train the keypoint detector, dense motion, inpainting and background networks",
        description=(
            "Train the generator networks with the authors' procedure (Adam, MultiStepLR, "
            "gradient clipping). The run folder holds checkpoint.pth.tar (the authors' "
            "layout plus the config and everything --resume needs, written atomically), "
            "config.yaml, log.csv (the losses of each step), vis/epoch_NNNN.png (one "
            "visualisation per epoch) and checkpoints/NNNNNNNN.pth.tar (a copy every "
            "--checkpoint-every epochs). Under torchrun every process trains on its share "
            "of the global batch. Ctrl-C or SIGTERM lets the step in progress finish, saves "
            "it and exits (status 130 or 143); --resume then continues exactly from that "
            "step."
        ),
    )
    parser.add_argument("--config", help="preset name or YAML file (required for a new run)")
    parser.add_argument("--out", metavar="RUN", help="run folder (created)")
    parser.add_argument(
        "--checkpoint",
        metavar="FILE",
        help="start from these weights (e.g. the authors' checkpoint) with fresh optimizers",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="with --checkpoint: copy only the weights that fit the config (a changed "
        "network keeps its fresh initialisation, weights the config has no place for are "
        "left out) and say in one line what was not copied",
    )
    vgg = parser.add_mutually_exclusive_group()
    vgg.add_argument(
        "--vgg19",
        metavar="PATH",
        help="torchvision's VGG-19 ImageNet weights (default: the torch hub cache)",
    )
    vgg.add_argument(
        "--no-pretrained-vgg",
        action="store_true",
        help="random VGG-19 for the perceptual loss (smoke tests only: the loss is meaningless)",
    )
    add_run_arguments(parser)
    parser.add_argument(
        "--compile",
        action="store_true",
        help="run the forward through torch.compile: about a third faster per step on a "
        "CPU (see benchmarks/RESULTS.md), after minutes of compiling at the start (worth "
        "it for long runs)",
    )
    parser.set_defaults(func=run_train)


def is_main_process() -> bool:
    """True unless torchrun says this is not rank 0."""
    return torchrun_env().is_main


def stage_config(args: argparse.Namespace, section: str, stage: str, fallback: Any = None) -> Any:
    """The run's configuration with the command line's overrides.

    Args:
        args: the parsed options.
        section: ``train_params`` or ``train_avd_params``.
        stage: ``generator`` or ``avd`` (to read a resumed run).
        fallback: ``() -> Config`` for a new run without ``--config``, or None to refuse.
    """
    from tpsmm.config import load_config
    from tpsmm.errors import ConfigError
    from tpsmm.training.run_files import load_resume

    if args.resume:
        if args.config:
            raise ConfigError(
                "--config cannot be combined with --resume: the run's config is in its "
                "checkpoint (change its schedule with --epochs, --checkpoint-every)"
            )
        config = load_resume(args.resume, stage)[1]
    elif args.config:
        config = load_config(args.config)
    elif fallback is not None:
        config = fallback()
    else:
        raise ConfigError("a new run needs --config (a preset name or a YAML file)")
    changes: dict[str, Any] = {}
    if args.data:
        changes["dataset_params.root_dir"] = str(Path(args.data))
    for option, key in (
        ("epochs", "num_epochs"),
        ("batch_size", "batch_size"),
        ("checkpoint_every", "checkpoint_freq"),
    ):
        if getattr(args, option) is not None:
            changes[f"{section}.{key}"] = getattr(args, option)
    return config.replace(**changes) if changes else config


def run_options(args: argparse.Namespace, default_out: Path | None = None) -> Any:
    """:class:`tpsmm.training.loop.RunOptions` from the parsed options."""
    from tpsmm.errors import ConfigError
    from tpsmm.training.loop import RunOptions
    from tpsmm.training.run_files import resume_checkpoint_path

    out = args.out
    if out is None and args.resume:
        resumed = Path(args.resume)
        out = resumed if resumed.is_dir() else resume_checkpoint_path(resumed).parent
    if out is None:
        out = default_out
    if out is None:
        raise ConfigError("--out RUN is required for a new run")
    check_writable_folder(out)
    if args.workers is not None and args.workers < 0:
        raise ConfigError(f"--workers must not be negative, got {args.workers}")
    resolve_device(args.device)  # a bad --device fails before any slow work
    return RunOptions(
        out_dir=Path(out),
        seed=args.seed,
        max_steps=args.max_steps,
        precision=args.precision,
        device=args.device,
        workers=args.workers,
        sync_bn=args.sync_bn,
        compile=getattr(args, "compile", False),
        progress=not args.no_progress and sys.stderr.isatty(),
        checkpoint_minutes=args.checkpoint_minutes,
        partial_checkpoint=getattr(args, "partial", False),
    )


def run_stage_command(command: str, start: Any) -> int:
    """Run a training stage (``start()`` returns its summary) and print one line about
    it; on SIGINT or SIGTERM, the one line says what was saved, and the status is 130
    or 143 (rank 0 prints)."""
    from tpsmm.signals import describe, exit_status
    from tpsmm.training.stopping import TrainingInterrupted

    try:
        summary = start()
    except TrainingInterrupted as interrupt:
        if is_main_process():
            stopped = interrupt.summary
            where = f"at epoch {stopped.epoch}, step {stopped.global_step}"
            if stopped.checkpoint is None:
                line = f"{describe(interrupt)} {where}; nothing saved"
            else:
                run = stopped.checkpoint.parent
                line = (
                    f"{describe(interrupt)} {where}; saved {stopped.checkpoint} "
                    f"(continue with: tpsmm {command} --resume {run})"
                )
            print(f"tpsmm {command}: {line}", file=sys.stderr, flush=True)
        return exit_status(interrupt)
    print_summary(summary)
    return 0


def print_summary(summary: Any) -> None:
    """One line about where the run stopped (rank 0 only)."""
    if not is_main_process():
        return
    state = "finished" if summary.finished else "stopped"
    where = f"epoch {summary.epoch}, step {summary.global_step}"
    if summary.checkpoint is None:
        print(f"{state} at {where}; nothing to save")
    else:
        print(f"{state} at {where}; checkpoint {summary.checkpoint}")


def _vgg(args: argparse.Namespace) -> Any:
    """The perceptual loss's VGG-19 the options ask for."""
    from tpsmm.losses import load_vgg19
    from tpsmm.networks.backbones import VGG19Features

    if args.no_pretrained_vgg:
        if is_main_process():
            print("warning: random VGG-19: the perceptual loss is meaningless", file=sys.stderr)
        return VGG19Features().eval().requires_grad_(False)
    return load_vgg19(args.vgg19)


def run_train(args: argparse.Namespace) -> int:
    """Run ``tpsmm train``; returns the exit status."""
    from tpsmm.errors import ConfigError
    from tpsmm.training.generator import train_generator

    if args.checkpoint and args.resume:
        raise ConfigError("--checkpoint starts a new run and --resume continues one: pass one")
    if args.partial and not args.checkpoint:
        raise ConfigError("--partial needs --checkpoint (the weights to copy from)")
    fallback = None
    if args.checkpoint:

        def fallback() -> Any:
            return checkpoint_config(args.checkpoint)

    config = stage_config(args, "train_params", "generator", fallback)
    config.check_training()
    options = run_options(args)
    vgg = _vgg(args) if sum(config.train_params.loss_weights.perceptual) else None
    return run_stage_command(
        "train",
        lambda: train_generator(
            config, options, vgg=vgg, init_checkpoint=args.checkpoint, resume=args.resume
        ),
    )


def checkpoint_config(path: str) -> Any:
    """The config a checkpoint file carries, or the one its weights show (authors' files)."""
    from tpsmm import checkpoint

    return checkpoint.checkpoint_config(checkpoint.read_checkpoint(path), path=path)
