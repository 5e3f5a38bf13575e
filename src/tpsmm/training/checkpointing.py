"""What a training run writes in its folder, and reads back to resume exactly.

``RUN/config.yaml`` (the run's configuration), ``RUN/vis/epoch_XXXX.png`` (the epoch's
visualisation, :mod:`tpsmm.training.visualize`) and ``RUN/checkpoint.pth.tar`` (the
networks, the optimizer states and, under :data:`STATE_KEY`, the schedulers, the
GradScaler, the progress and every rank's random state; see
:mod:`tpsmm.training.run_files`). :class:`RunCheckpointing` is the part of
:class:`tpsmm.training.loop.Trainer` that writes and restores them.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
import yaml
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from tpsmm.checkpoint import save_checkpoint
from tpsmm.config import Config, TrainAVDParams, TrainParams
from tpsmm.errors import CheckpointError, ConfigError
from tpsmm.files import atomic_path, stale_partials
from tpsmm.model import TPSMM
from tpsmm.training.distributed import DistContext, all_gather_objects, barrier
from tpsmm.training.optim import load_scheduler, scheduler_state, weights_finite
from tpsmm.training.options import Progress, RunOptions, TrainingDiverged
from tpsmm.training.random_state import restore_rng, rng_snapshot
from tpsmm.training.run_files import CHECKPOINT_NAME, STATE_KEY
from tpsmm.training.visualize import Row, visualize


class RunCheckpointing:
    """The run folder's outputs of a :class:`tpsmm.training.loop.Trainer` (which sets
    the attributes declared here)."""

    stage: ClassVar[str]
    config: Config
    options: RunOptions
    ctx: DistContext
    device: torch.device
    params: TrainParams | TrainAVDParams
    model: TPSMM
    module: nn.Module
    optimizers: dict[str, Optimizer]
    schedulers: dict[str, LRScheduler]
    scaler: torch.amp.GradScaler
    shared_generator: torch.Generator
    rank_generator: torch.Generator
    progress: Progress
    _visual: tuple[dict[str, Any], dict[str, Any]] | None
    _last_save: float

    def visual_rows(self, batch: Mapping[str, Any], generated: Mapping[str, Any]) -> list[Row]:
        raise NotImplementedError

    def to_device(self, batch: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def checkpoint_path(self) -> Path:
        return self.options.out_dir / CHECKPOINT_NAME

    def _remove_stale_partials(self) -> None:
        """Remove the temporary files a killed run (``kill -9``) left in the run folder."""
        out = self.options.out_dir
        for stale in [*stale_partials(out), *stale_partials(out / "checkpoints")]:
            if stale.is_file():
                stale.unlink(missing_ok=True)

    def _write_config(self) -> None:
        path = self.options.out_dir / "config.yaml"
        with atomic_path(path) as tmp:
            tmp.write_text(yaml.safe_dump(self.config.to_dict(), sort_keys=False))

    def _write_visualisation(self, epoch: int) -> None:
        if not self.ctx.is_main or self._visual is None:
            return
        batch, generated = self._visual
        self._visual = None
        with torch.no_grad():
            rows = self.visual_rows(self.to_device(batch), generated)
        visualize(
            rows,
            self.config.visualizer_params,
            self.options.out_dir / "vis" / f"epoch_{epoch:04d}.png",
        )

    def training_state(self, rng: list[dict[str, Any]]) -> dict[str, Any]:
        """The ``tpsmm_training`` entry of a checkpoint."""
        progress = self.progress
        return {
            "stage": self.stage,
            "epoch": progress.epoch,
            "step_in_epoch": progress.step_in_epoch,
            "global_step": progress.global_step,
            "elapsed": progress.elapsed,
            "seed": self.options.seed,
            "world_size": self.ctx.world_size,
            "batch_size": self.params.batch_size,
            "schedulers": {name: scheduler_state(s) for name, s in self.schedulers.items()},
            "scaler": self.scaler.state_dict(),
            "rng": {"shared": self.shared_generator.get_state(), "ranks": rng},
        }

    def _save(self, *, copy: bool) -> None:
        """Write the checkpoint (rank 0) after gathering every rank's random state; the
        clock of ``--checkpoint-minutes`` restarts."""
        if not weights_finite(self.model):
            raise TrainingDiverged(
                f"weights are not finite at epoch {self.progress.epoch}, step "
                f"{self.progress.global_step}; stopped without saving"
            )
        rng = all_gather_objects(rng_snapshot(self.rank_generator, self.device), self.ctx)
        if self.ctx.is_main:
            extra: dict[str, Any] = {"epoch": self.progress.epoch - 1}
            extra.update({name: opt.state_dict() for name, opt in self.optimizers.items()})
            extra[STATE_KEY] = self.training_state(rng)
            save_checkpoint(self.checkpoint_path, self.model, extra)
            if copy:
                target = self.options.out_dir / "checkpoints" / f"{self.progress.epoch:08d}.pth.tar"
                with atomic_path(target) as tmp:
                    shutil.copyfile(self.checkpoint_path, tmp)
        barrier(self.ctx)
        self._last_save = time.monotonic()

    def _restore(self, raw: Mapping[str, Any]) -> None:
        """Optimizers, schedulers, scaler, progress and random states from a checkpoint."""
        state = raw[STATE_KEY]
        if state.get("stage") != self.stage:
            raise CheckpointError(f"cannot resume a {state.get('stage')!r} run as {self.stage!r}")
        for name, optimizer in self.optimizers.items():
            if name not in raw:
                raise CheckpointError(f"the resumed checkpoint has no {name} state")
            optimizer.load_state_dict(raw[name])
        for name, scheduler in self.schedulers.items():
            load_scheduler(scheduler, state["schedulers"][name])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.progress = Progress(
            int(state["epoch"]),
            int(state["step_in_epoch"]),
            int(state["global_step"]),
            float(state.get("elapsed", 0.0)),
        )
        if self.progress.step_in_epoch and int(state["batch_size"]) != self.params.batch_size:
            raise ConfigError(
                f"the run stopped in the middle of epoch {self.progress.epoch} with batch_size "
                f"{state['batch_size']}; resume it with that batch size"
            )
        rng = state["rng"]
        self.shared_generator.set_state(rng["shared"])
        ranks = rng["ranks"]
        if self.ctx.rank < len(ranks):
            restore_rng(ranks[self.ctx.rank], self.rank_generator, self.device)
