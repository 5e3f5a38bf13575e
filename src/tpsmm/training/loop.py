"""The training loop of both stages: data, optimisation steps, logging, checkpoints,
exact resume, several processes. The generator stage (:mod:`tpsmm.training.generator`)
and the AVD stage (:mod:`tpsmm.training.avd`) say what is trained.

Run folder
    ``RUN/checkpoint.pth.tar`` (see :mod:`tpsmm.training.run_files`) is written
    atomically every ``checkpoint_freq`` epochs (with a copy
    ``RUN/checkpoints/<epochs done, 8 digits>.pth.tar``), when ``--max-steps`` stops the
    run (mid-epoch if need be) and at the end. ``RUN/config.yaml`` (the run's
    configuration), ``RUN/log.csv`` (see :mod:`tpsmm.training.logging`) and
    ``RUN/vis/epoch_XXXX.png`` (one per epoch, see :mod:`tpsmm.training.visualize`;
    epochs count from 0) complete it. An epoch is ``num_repeats`` passes over the videos,
    shuffled, incomplete last batch dropped; ``batch_size`` is the global batch, split
    over torchrun's processes (see :mod:`tpsmm.training.distributed`).

Exact resume
    Every random choice is a function of saved state (:mod:`tpsmm.training.random_state`).
    A run stopped by ``--max-steps`` (or resumed from any checkpoint) and continued with
    ``--resume`` skips the batches already done and gives the weights an uninterrupted
    run gives. ``--max-steps`` counts steps from the start of the run, across resumes.

Divergence
    A loss that is not finite stops the run on every rank with a
    :class:`TrainingDiverged` naming the epoch and step, before the backward pass; the
    last checkpoint is left as it was. Weights that became non-finite are never saved.

Mixed precision
    ``precision="bf16"`` or ``"fp16"`` runs the forward under ``torch.autocast``; fp16
    needs CUDA and uses a GradScaler (gradients are unscaled before clipping).
"""

from __future__ import annotations

import dataclasses
import sys
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import MultiStepLR
from torch.utils.data import DataLoader
from tqdm import tqdm

from tpsmm.checkpoint import (
    convert_checkpoint,
    load_state,
    read_checkpoint,
)
from tpsmm.config import Config, TrainAVDParams, TrainParams
from tpsmm.data import DatasetRepeater, build_dataset, collate_items, loader_workers
from tpsmm.errors import CheckpointError, ConfigError, TPSMMError
from tpsmm.model import TPSMM
from tpsmm.runtime import resolve_precision, warn_if_slow
from tpsmm.signals import ignore_in_worker, signal_of
from tpsmm.training.checkpointing import RunCheckpointing
from tpsmm.training.distributed import (
    DistContext,
    GlobalBatchSampler,
    all_reduce_sum,
    barrier,
    cleanup_distributed,
    convert_sync_batchnorm,
    init_distributed,
    wrap_ddp,
)
from tpsmm.training.logging import LossLog
from tpsmm.training.options import (
    PRECISIONS,
    Progress,
    RunOptions,
    TrainingDiverged,
    TrainSummary,
)
from tpsmm.training.random_state import (
    derived_seed,
    run_seed,
    seed_process,
)
from tpsmm.training.run_files import CHECKPOINT_NAME, load_resume
from tpsmm.training.stopping import StopGuard, TrainingInterrupted
from tpsmm.training.visualize import Row

__all__ = [
    "PRECISIONS",
    "RunOptions",
    "TrainSummary",
    "Trainer",
    "TrainingDiverged",
    "run_stage",
]

#: Seed of the 80/20 split, fixed (as the authors' 0) so that ``--seed`` never moves
#: videos between the training and the test set; ``--seed`` seeds the items' choices.
DATASET_SEED = 0
#: Loss dicts kept for :attr:`TrainSummary.losses` (the most recent steps).
HISTORY_LENGTH = 10_000


def _detach(value: Any) -> Any:
    """Tensors detached, through lists, tuples and dicts."""
    if isinstance(value, Tensor):
        return value.detach()
    if isinstance(value, (list, tuple)):
        return type(value)(_detach(v) for v in value)
    if isinstance(value, dict):
        return {k: _detach(v) for k, v in value.items()}
    return value


def _one_line(error: BaseException) -> str:
    """The message of an error re-raised from a DataLoader worker, without the worker's
    traceback (its last line, minus the exception's class name)."""
    lines = [line for line in str(error).splitlines() if line.strip()]
    if len(lines) <= 1:
        return str(error)
    last = lines[-1]
    name = type(error).__name__
    marker = f"{name}: "
    return last.split(marker, 1)[1] if marker in last else last


class Trainer(RunCheckpointing):
    """One training stage's loop: data, optimisation, logging, checkpoints, resume.

    Subclasses say what is trained: :meth:`prepare_model`, :meth:`build_module`,
    :meth:`build_optimizers`, :meth:`set_train_mode`, :meth:`compute`, :meth:`update`,
    :meth:`visual_rows`.

    Args:
        config: the run's configuration (``dataset_params.root_dir`` set).
        options: see :class:`RunOptions`.
        ctx: the process's place in the run (:func:`init_distributed`).
        init_checkpoint: weights to start from (fine-tuning; raw checkpoint contents).
        resume: a checkpoint of this stage to continue (raw contents, see
            :func:`load_resume`).
    """

    #: ``"generator"`` or ``"avd"``; checked on resume.
    stage: ClassVar[str] = ""

    def __init__(
        self,
        config: Config,
        options: RunOptions,
        ctx: DistContext,
        *,
        init_checkpoint: Mapping[str, Any] | None = None,
        resume: Mapping[str, Any] | None = None,
    ):
        self.config = config
        self.options = options = dataclasses.replace(options, seed=run_seed(options.seed, resume))
        self.ctx = ctx
        self.device = ctx.device
        self.params = self.stage_params(config)
        self.per_rank_batch = ctx.per_rank_batch(self.params.batch_size)
        self._check_precision()
        self.dataset = self._build_dataset()

        seed_process(options.seed, ctx.rank)
        self.model = TPSMM(config)
        if init_checkpoint is not None:
            note = load_state(
                self.model,
                convert_checkpoint(init_checkpoint),
                source="checkpoint",
                partial=options.partial_checkpoint,
            )
            if note is not None and ctx.rank == 0:
                print(note, file=sys.stderr)
        if resume is not None:
            load_state(self.model, convert_checkpoint(resume), source="resumed checkpoint")
        self.model.to(self.device)
        self.prepare_model()
        module = self.build_module()
        if options.sync_bn:
            module = convert_sync_batchnorm(module, ctx)
        self.module = module
        self.optimizers = self.build_optimizers()
        self.schedulers = {
            name: MultiStepLR(opt, self.params.epoch_milestones, gamma=0.1)
            for name, opt in self.optimizers.items()
        }
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=options.precision == "fp16")
        self.shared_generator = torch.Generator().manual_seed(derived_seed(options.seed, 0))
        self.rank_generator = torch.Generator().manual_seed(derived_seed(options.seed, 1, ctx.rank))
        self.progress = Progress()
        self.resumed = resume is not None
        if resume is not None:
            self._restore(resume)
        self.ddp = wrap_ddp(
            self.module,
            ctx,
            find_unused_parameters=self.find_unused_parameters(self.progress.epoch),
        )
        self.sampler = GlobalBatchSampler(
            len(self.dataset),
            self.params.batch_size,
            rank=ctx.rank,
            world_size=ctx.world_size,
            seed=options.seed,
            shuffle=options.shuffle,
        )
        workers = loader_workers(self.params.dataloader_workers, options.workers)
        self.loader = DataLoader(
            self.dataset,
            batch_sampler=self.sampler,
            num_workers=workers,
            collate_fn=collate_items,
            pin_memory=self.device.type == "cuda",
            persistent_workers=workers > 0,
            worker_init_fn=ignore_in_worker,
            generator=torch.Generator().manual_seed(derived_seed(options.seed, 4)),
        )
        self._visual: tuple[dict[str, Any], dict[str, Any]] | None = None
        self._guard: StopGuard | None = None
        self._votes = (0.0, 0.0)
        self._last_save = time.monotonic()

    # ------------------------------------------------------------------ stage hooks

    @staticmethod
    def stage_params(config: Config) -> TrainParams | TrainAVDParams:
        """The config section with this stage's schedule (epochs, repeats, batch, ...)."""
        raise NotImplementedError

    def prepare_model(self) -> None:
        """Freeze what this stage does not train (``requires_grad``), set flags."""
        raise NotImplementedError

    def build_module(self) -> nn.Module:
        """The module whose forward computes the losses (wrapped in DDP when distributed)."""
        raise NotImplementedError

    def build_optimizers(self) -> dict[str, Optimizer]:
        """``{checkpoint key: optimizer}``, the first one's learning rate is logged."""
        raise NotImplementedError

    def set_train_mode(self) -> None:
        """Put the networks in the modes of a training epoch."""
        raise NotImplementedError

    def compute(self, batch: Mapping[str, Any], epoch: int) -> tuple[dict[str, Tensor], dict]:
        """Forward one batch through ``self.ddp``: ``(weighted loss terms, generated)``."""
        raise NotImplementedError

    def update(self, epoch: int) -> None:
        """Clip the gradients and step the optimizers (through ``self.scaler``)."""
        raise NotImplementedError

    def visual_rows(self, batch: Mapping[str, Any], generated: Mapping[str, Any]) -> list[Row]:
        """The rows of the epoch's visualisation for a batch and its outputs."""
        raise NotImplementedError

    def find_unused_parameters(self, epoch: int) -> bool:
        """Whether DDP must look for trained parameters left out of the graph."""
        return False

    def loss_terms(self) -> list[str]:
        """The loss terms expected in the log, in column order."""
        return []

    # ------------------------------------------------------------------ set-up

    def _check_precision(self) -> None:
        """Refuse fp16 without CUDA; warn (rank 0) about bf16 that the device emulates."""
        if self.options.precision == "fp16" and self.device.type != "cuda":
            raise ConfigError("--precision fp16 needs CUDA (use bf16 or fp32 on the CPU)")
        if self.options.precision == "bf16" and self.ctx.is_main:
            warn_if_slow(resolve_precision(torch.bfloat16, self.device), self.device)

    def _build_dataset(self) -> DatasetRepeater:
        params = dataclasses.asdict(self.config.dataset_params)
        if not params.get("root_dir"):
            raise ConfigError("no dataset: pass --data ROOT (or set dataset_params.root_dir)")
        dataset = build_dataset(
            params,
            is_train=True,
            random_seed=DATASET_SEED,
            item_seed=derived_seed(self.options.seed, 5) % 2**32,
        )
        return DatasetRepeater(dataset, self.params.num_repeats)

    def autocast(self) -> AbstractContextManager:
        """The forward's autocast context for the run's precision."""
        if self.options.precision == "fp32":
            return nullcontext()
        dtype = torch.bfloat16 if self.options.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    def shared_draw(self, sampler: Callable[[int, torch.Generator], Any]) -> Any:
        """``sampler(global_batch, generator)`` on the generator every rank shares, so that
        a draw for the whole global batch does not depend on the number of ranks; take
        this rank's rows with :attr:`rank_rows`."""
        return sampler(self.params.batch_size, self.shared_generator)

    @property
    def rank_rows(self) -> slice:
        """This rank's rows of a global batch."""
        start = self.ctx.rank * self.per_rank_batch
        return slice(start, start + self.per_rank_batch)

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        return {
            k: v.to(self.device, non_blocking=True) if isinstance(v, Tensor) else v
            for k, v in batch.items()
        }

    # ------------------------------------------------------------------ one step

    def zero_grad(self) -> None:
        for optimizer in self.optimizers.values():
            optimizer.zero_grad(set_to_none=True)

    def train_step(self, batch: Mapping[str, Any], epoch: int) -> tuple[dict[str, float], dict]:
        """One optimisation step on this rank's part of a global batch.

        Gradients are cleared first and left in place afterwards (clipped), so they can be
        inspected. Returns the loss terms averaged over the ranks (floats) and the
        generated tensors.

        Raises:
            TrainingDiverged: a loss term is not finite on some rank (raised on all).
        """
        self.zero_grad()
        with self.autocast():
            losses, generated = self.compute(self.to_device(batch), epoch)
        total = sum(losses.values())
        values = self._reduce_losses(losses, total, epoch)
        self.scaler.scale(total).backward()
        self.update(epoch)
        self.scaler.update()
        return values, generated

    def _reduce_losses(
        self, losses: Mapping[str, Tensor], total: Tensor, epoch: int
    ) -> dict[str, float]:
        """Rank means of the loss terms; stops every rank when any total is not finite.

        The same all-reduce carries each rank's stop request (a signal held back by the
        :class:`StopGuard`) and rank 0's clock saying a time-based checkpoint is due, so
        that every rank stops or saves after the same step (:attr:`_votes`).
        """
        local = [v.detach().float().reshape(()) for v in losses.values()]
        flag = (~torch.isfinite(total.detach().float())).float().reshape(())
        guard = self._guard
        stop = guard.stop_flag if guard is not None else 0.0
        save = float(self.ctx.is_main and self._time_checkpoint_due())
        flags = torch.tensor([stop, save]).to(flag)
        packed = all_reduce_sum(torch.cat([torch.stack([*local, flag]), flags]), self.ctx).cpu()
        means = (packed[: len(local)] / self.ctx.world_size).tolist()
        values = dict(zip(losses, means, strict=True))
        self._votes = (float(packed[-2]), float(packed[-1]))
        if packed[len(local)] > 0:
            self._diverged(values, epoch)
        return values

    def _time_checkpoint_due(self) -> bool:
        """``--checkpoint-minutes`` have passed since the last checkpoint (rank 0's clock)."""
        minutes = self.options.checkpoint_minutes
        return minutes is not None and time.monotonic() - self._last_save >= 60 * minutes

    def _diverged(self, values: Mapping[str, float], epoch: int) -> None:
        terms = ", ".join(f"{k}={v:.4g}" for k, v in values.items())
        step = self.progress.global_step + 1
        kept = self.checkpoint_path if self.checkpoint_path.exists() else None
        where = f"the last checkpoint {kept} is kept" if kept else "no checkpoint was written"
        raise TrainingDiverged(
            f"loss is not finite at epoch {epoch}, step {step} "
            f"(step {self.progress.step_in_epoch + 1} of the epoch; {terms}); "
            f"stopped without saving, {where}"
        )

    # ------------------------------------------------------------------ the loop

    def _reached_max_steps(self) -> bool:
        limit = self.options.max_steps
        return limit is not None and self.progress.global_step >= limit

    def run(self) -> TrainSummary:
        """Train from :attr:`progress` until ``num_epochs`` or ``max_steps``.

        Raises:
            TrainingInterrupted: SIGINT or SIGTERM stopped the run; the steps done are
                saved (see :mod:`tpsmm.training.stopping`).
            KeyboardInterrupt: a third signal stopped it during a step, unsaved.
        """
        is_main = self.ctx.is_main
        if is_main:
            self._remove_stale_partials()
            self._write_config()
        log = (
            LossLog(
                self.options.out_dir,
                self.loss_terms(),
                resume_step=self.progress.global_step if self.resumed else None,
                tensorboard=self.options.tensorboard,
            )
            if is_main
            else None
        )
        history: deque[dict[str, float]] = deque(maxlen=HISTORY_LENGTH)
        guard = StopGuard(distributed=self.ctx.distributed)
        self._guard = guard
        self._last_save = time.monotonic()
        try:
            with guard:
                try:
                    self._loop(log, history)
                except KeyboardInterrupt as interrupt:
                    if guard.abandoned:
                        raise
                    with guard.hold():
                        self._save(copy=False)  # exactly the steps done
                    raise TrainingInterrupted(
                        signal_of(interrupt), self._summary(history)
                    ) from None
        finally:
            self._guard = None
            if log is not None:
                log.close()
        summary = self._summary(history)
        if guard.requested is not None:  # the signal came as the last step ended
            raise TrainingInterrupted(guard.requested, summary)
        return summary

    def _loop(self, log: LossLog | None, history: deque[dict[str, float]]) -> None:
        """Epochs until ``num_epochs`` or ``max_steps``, each saved as due."""
        assert self._guard is not None
        while self.progress.epoch < self.params.num_epochs and not self._reached_max_steps():
            epoch = self.progress.epoch
            if self._run_epoch(epoch, log, history):
                with self._guard.critical():
                    self._end_epoch(epoch)
            else:  # stopped by max_steps in the middle of the epoch
                with self._guard.critical():
                    self._save(copy=False)

    def _summary(self, history: deque[dict[str, float]]) -> TrainSummary:
        """Where the run stands (after every rank got there)."""
        barrier(self.ctx)
        written = self.checkpoint_path if self.checkpoint_path.exists() else None
        return TrainSummary(
            written,
            self.progress.epoch,
            self.progress.step_in_epoch,
            self.progress.global_step,
            self.progress.epoch >= self.params.num_epochs,
            list(history),
        )

    def _run_epoch(self, epoch: int, log: LossLog | None, history: deque[dict[str, float]]) -> bool:
        """Steps of ``epoch`` from ``progress.step_in_epoch``; False when ``max_steps``
        stopped it before its end."""
        self.set_train_mode()
        self.dataset.set_epoch(epoch)
        self.sampler.set_epoch(epoch, self.progress.step_in_epoch)
        total_batches = self.sampler.batches_per_epoch
        bar = tqdm(
            total=total_batches,
            initial=self.progress.step_in_epoch,
            desc=f"{self.stage} epoch {epoch}/{self.params.num_epochs}",
            disable=not (self.ctx.is_main and self.options.progress),
            dynamic_ncols=True,
        )
        guard = self._guard
        assert guard is not None
        tick = time.perf_counter()
        try:
            for batch in self._batches():
                with guard.critical():  # a signal waits for the step and its bookkeeping
                    values, generated = self.train_step(batch, epoch)
                    now = time.perf_counter()
                    self._count_step(now - tick)
                    tick = now
                    history.append(values)
                    progress = self.progress
                    stopping = self._reached_max_steps() and progress.step_in_epoch < total_batches
                    if self.ctx.is_main and (stopping or progress.step_in_epoch == total_batches):
                        self._visual = (_detach(dict(batch)), _detach(generated))
                    if log is not None:
                        log.log(
                            epoch,
                            progress.global_step,
                            values,
                            self.learning_rate,
                            progress.elapsed,
                        )
                    bar.update(1)
                    bar.set_postfix(loss=f"{sum(values.values()):.4g}", refresh=False)
                    stop_votes, save_votes = self._votes
                    if save_votes > 0 and not stopping and progress.step_in_epoch < total_batches:
                        self._save(copy=False)  # --checkpoint-minutes
                    if stopping:
                        self._write_visualisation(epoch)
                        return False
                guard.agree(stop_votes)
        finally:
            bar.close()
        return True

    def _count_step(self, seconds: float) -> None:
        """Advance :attr:`progress` by one step that took ``seconds`` (data included)."""
        self.progress.step_in_epoch += 1
        self.progress.global_step += 1
        self.progress.elapsed += seconds

    def _batches(self) -> Iterable[Mapping[str, Any]]:
        """The loader's batches, with errors from worker processes on one line."""
        iterator = iter(self.loader)
        while True:
            try:
                batch = next(iterator)
            except StopIteration:
                return
            except TPSMMError as error:
                raise type(error)(_one_line(error)) from None
            yield batch

    def _end_epoch(self, epoch: int) -> None:
        """Schedulers, visualisation and (when due) the checkpoint after ``epoch``."""
        with warnings.catch_warnings():
            # The background predictor's optimizer has not stepped before bg_start; its
            # schedule still advances with the epochs, as in the authors' code.
            warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
            for scheduler in self.schedulers.values():
                scheduler.step()
        self.progress.epoch = epoch + 1
        self.progress.step_in_epoch = 0
        self._write_visualisation(epoch)
        done = epoch + 1
        due = done % self.params.checkpoint_freq == 0
        if due or done == self.params.num_epochs or self._reached_max_steps():
            self._save(copy=due)

    @property
    def learning_rate(self) -> float:
        first = next(iter(self.optimizers.values()))
        return float(first.param_groups[0]["lr"])


def run_stage(
    cls: type[Trainer],
    config: Config,
    options: RunOptions,
    *,
    init_checkpoint: str | Path | None,
    resume: str | Path | None,
    **kwargs: Any,
) -> TrainSummary:
    """Set up the processes, build the stage's trainer and run it."""
    resume_raw = load_resume(resume, cls.stage)[0] if resume is not None else None
    existing = options.out_dir / CHECKPOINT_NAME
    if resume is None and existing.exists():
        raise CheckpointError(
            f"{options.out_dir} already holds a run ({existing}); continue it with "
            f"--resume {options.out_dir} or choose another --out"
        )
    init_raw = read_checkpoint(init_checkpoint) if init_checkpoint is not None else None
    ctx = init_distributed(options.device)
    try:
        trainer = cls(config, options, ctx, init_checkpoint=init_raw, resume=resume_raw, **kwargs)
        return trainer.run()
    finally:
        cleanup_distributed(ctx)
