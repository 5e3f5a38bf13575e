"""How a training stage is run (:class:`RunOptions`, the command-line options that are
not config values), where it stands (:class:`Progress`) and how it ended
(:class:`TrainSummary`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tpsmm.errors import ConfigError, TPSMMError

__all__ = ["PRECISIONS", "Progress", "RunOptions", "TrainSummary", "TrainingDiverged"]

PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "fp16")


class TrainingDiverged(TPSMMError):
    """A loss or a weight became NaN or infinite; the run stopped without saving."""


@dataclass
class RunOptions:
    """How to run a training stage (the command-line options that are not config values).

    Attributes:
        out_dir: the run folder (created).
        seed: seeds the initial weights, the data order and the random transforms;
            None: 0 for a new run, the run's own seed when resuming (a resumed run
            refuses another seed).
        max_steps: stop (and save) once this many steps were done since the run began.
        precision: ``fp32``, ``bf16`` or ``fp16`` (autocast; fp16 needs CUDA).
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``
            (:func:`tpsmm.runtime.resolve_device`); None: auto.
        workers: DataLoader workers; None: the config's ``dataloader_workers``.
        sync_bn: SyncBatchNorm when distributed (CUDA only).
        compile: run the generator's forward through ``torch.compile`` (the same losses
            up to float rounding, about a third faster per step on a CPU; compiling takes
            minutes at the start and again when the background predictor or TPS dropout
            switches on or off).
        progress: show a tqdm progress bar (rank 0).
        tensorboard: write TensorBoard events when tensorboard is installed.
        shuffle: shuffle the items of each epoch (off only for tests).
        checkpoint_minutes: also save ``RUN/checkpoint.pth.tar`` after the first step
            that ends this many minutes after the last save (mid-epoch too), so that a
            ``kill -9`` loses at most that much; None: only the epoch checkpoints.
        partial_checkpoint: the starting checkpoint's entries that do not fit the config
            (another head, width or number of transforms) are left out instead of
            refused, and the model's entries it lacks keep their initialisation
            (:func:`tpsmm.checkpoint.load_state`).
    """

    out_dir: Path
    seed: int | None = None
    max_steps: int | None = None
    precision: str = "fp32"
    device: str | None = None
    workers: int | None = None
    sync_bn: bool = False
    compile: bool = False
    progress: bool = True
    tensorboard: bool = True
    shuffle: bool = True
    checkpoint_minutes: float | None = None
    partial_checkpoint: bool = False

    def __post_init__(self) -> None:
        self.out_dir = Path(self.out_dir)
        if self.checkpoint_minutes is not None and not self.checkpoint_minutes > 0:
            raise ConfigError(
                f"--checkpoint-minutes must be positive, got {self.checkpoint_minutes}"
            )
        if self.precision not in PRECISIONS:
            raise ConfigError(f"precision must be one of {', '.join(PRECISIONS)}")
        if self.max_steps is not None and self.max_steps < 0:
            raise ConfigError(f"--max-steps must not be negative, got {self.max_steps}")


@dataclass
class Progress:
    """Where a run stands: ``epoch`` is the epoch in progress (or next to run),
    ``step_in_epoch`` the global batches of it already done, ``global_step`` the steps
    since the run began, ``elapsed`` the training seconds so far."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    elapsed: float = 0.0


@dataclass
class TrainSummary:
    """The outcome of :meth:`Trainer.run`.

    Attributes:
        checkpoint: the run's checkpoint file (None when nothing was written).
        epoch, step_in_epoch, global_step: where the run stopped (see :class:`Progress`).
        finished: all ``num_epochs`` epochs are done.
        losses: the terms of the steps run by this call, in order (floats, rank means;
            the last :data:`HISTORY_LENGTH`).
    """

    checkpoint: Path | None
    epoch: int
    step_in_epoch: int
    global_step: int
    finished: bool
    losses: list[dict[str, float]]
