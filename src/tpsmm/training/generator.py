"""The generator stage (``tpsmm train``): keypoint detector, dense motion, inpainting
and background networks trained with :class:`tpsmm.training.GeneratorObjective`, on the
loop of :mod:`tpsmm.training.loop`.

Procedure (the authors' ``train.py``)
    Adam (betas 0.5, 0.999, weight decay 1e-4, ``lr_generator``) over the inpainting,
    dense motion and keypoint detector networks; a second Adam for the background
    predictor, stepped only from ``bg_start``; both on MultiStepLR (gamma 0.1) stepped
    once per epoch at ``epoch_milestones``. Per step: loss = sum of the weighted terms of
    :class:`tpsmm.training.GeneratorObjective`, backward, gradients clipped to infinity
    norm 10 for the keypoint detector, the dense motion network and (from ``bg_start``)
    the background predictor, optimizer steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from tpsmm.config import Config, TrainParams
from tpsmm.geometry import RandomTPS
from tpsmm.networks.backbones import VGG19Features
from tpsmm.training.distributed import DistContext
from tpsmm.training.loop import RunOptions, Trainer, TrainSummary, run_stage
from tpsmm.training.objective import GeneratorObjective
from tpsmm.training.optim import GENERATOR_WEIGHT_DECAY, clip_inf_norm, make_adam
from tpsmm.training.visualize import Row, generator_rows

__all__ = ["GeneratorTrainer", "train_generator"]


class GeneratorTrainer(Trainer):
    """The generator stage: keypoint detector, dense motion, inpainting and background
    networks trained with :class:`tpsmm.training.GeneratorObjective`.

    Args (besides :class:`Trainer`'s):
        vgg: the perceptual loss's VGG-19 (:func:`tpsmm.losses.load_vgg19`).
    """

    stage = "generator"

    def __init__(
        self,
        config: Config,
        options: RunOptions,
        ctx: DistContext,
        *,
        vgg: VGG19Features | None = None,
        **kwargs: Any,
    ):
        self._vgg = vgg
        super().__init__(config, options, ctx, **kwargs)

    @staticmethod
    def stage_params(config: Config) -> TrainParams:
        return config.train_params

    def prepare_model(self) -> None:
        # The AVD network is not trained here; its weights would not match the new
        # keypoints, so checkpoints of this stage leave it out (avd_available False).
        self.model.avd_network.requires_grad_(False)
        self.model.avd_available = False

    def build_module(self) -> nn.Module:
        vgg = self._vgg.to(self.device) if self._vgg is not None else None
        return GeneratorObjective(
            self.model, self.config.train_params, vgg, compile=self.options.compile
        )

    def build_optimizers(self) -> dict[str, Optimizer]:
        model = self.model
        lr = self.config.train_params.lr_generator
        main = [
            *model.inpainting_network.parameters(),
            *model.dense_motion_network.parameters(),
            *model.kp_detector.parameters(),
        ]
        optimizers: dict[str, Optimizer] = {
            "optimizer": make_adam(main, lr, GENERATOR_WEIGHT_DECAY)
        }
        if model.bg_predictor is not None:
            optimizers["optimizer_bg_predictor"] = make_adam(
                model.bg_predictor.parameters(), lr, GENERATOR_WEIGHT_DECAY
            )
        return optimizers

    def set_train_mode(self) -> None:
        self.model.train()
        self.model.avd_network.eval()

    @property
    def objective(self) -> GeneratorObjective:
        return self.module  # type: ignore[return-value]

    def find_unused_parameters(self, epoch: int) -> bool:
        unused_bg = self.model.bg_predictor is not None and not self.uses_background(epoch)
        # A stage without inpainting (motion-only, background-only) leaves networks unused.
        return unused_bg or not self.objective.uses_inpainting()

    def loss_terms(self) -> list[str]:
        return self.objective.loss_names()

    def _random_tps(self) -> RandomTPS:
        """This rank's rows of the global batch's random TPS (equivariance loss)."""
        objective = self.objective
        like = torch.empty(0)
        drawn = self.shared_draw(lambda batch, gen: objective.random_transform(batch, like, gen))
        rows = self.rank_rows
        return drawn._replace(theta=drawn.theta[rows], control_params=drawn.control_params[rows])

    def compute(self, batch: Mapping[str, Any], epoch: int) -> tuple[dict[str, Tensor], dict]:
        random_tps = self._random_tps()
        return self.ddp(
            batch["source"],
            batch["driving"],
            epoch,
            random_tps=random_tps,
            generator=self.rank_generator,
            flow=batch.get("flow"),
            flow_valid=batch.get("flow_valid"),
            camera=batch.get("camera"),
            camera_valid=batch.get("camera_valid"),
            landmarks=batch.get("landmarks"),
            landmarks_found=batch.get("landmarks_found"),
        )

    def uses_background(self, epoch: int) -> bool:
        return self.objective.uses_background(epoch)

    def stepped_optimizers(self, epoch: int) -> list[Optimizer]:
        """The optimizers that step at ``epoch``: the background predictor's only from
        ``bg_start``."""
        optimizers = [self.optimizers["optimizer"]]
        if self.uses_background(epoch):
            optimizers.append(self.optimizers["optimizer_bg_predictor"])
        return optimizers

    def clip_gradients(self, epoch: int) -> None:
        """Infinity-norm clipping (max 10) of the keypoint detector's, the dense motion
        network's and, from ``bg_start``, the background predictor's gradients."""
        model = self.model
        clip_inf_norm(model.kp_detector.parameters())
        clip_inf_norm(model.dense_motion_network.parameters())
        if self.uses_background(epoch):
            clip_inf_norm(model.bg_predictor.parameters())  # type: ignore[union-attr]

    def update(self, epoch: int) -> None:
        stepped = self.stepped_optimizers(epoch)
        for optimizer in stepped:
            self.scaler.unscale_(optimizer)
        self.clip_gradients(epoch)
        for optimizer in stepped:
            self.scaler.step(optimizer)

    def visual_rows(self, batch: Mapping[str, Any], generated: Mapping[str, Any]) -> list[Row]:
        return generator_rows(batch["source"], batch["driving"], dict(generated))


def train_generator(
    config: Config,
    options: RunOptions,
    *,
    vgg: VGG19Features | None = None,
    init_checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
) -> TrainSummary:
    """Train the generator (``tpsmm train``), on all of torchrun's processes when
    started by torchrun.

    Args:
        config: the configuration, ``dataset_params.root_dir`` set. Ignored when
            resuming, except for the schedule values (``num_epochs``, ...): pass the
            stored config with any changes (:func:`load_resume`).
        options: see :class:`RunOptions`.
        vgg: the perceptual loss's VGG-19; None looks in the torch hub cache.
        init_checkpoint: start from these weights (any checkpoint ``load_model`` reads)
            with fresh optimizers at epoch 0.
        resume: a run folder or checkpoint of this stage to continue.

    Raises:
        CheckpointError: ``options.out_dir`` already holds a run and ``resume`` is not set.
        TrainingDiverged: a loss became NaN/infinite (the last checkpoint is kept).
    """
    return run_stage(
        GeneratorTrainer, config, options, init_checkpoint=init_checkpoint, resume=resume, vgg=vgg
    )
