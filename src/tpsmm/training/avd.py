"""Training the AVD network (paper Sec. 3.4; ``tpsmm train-avd``).

Only the AVD network learns: Adam (betas 0.5, 0.999, ``train_avd_params.lr``, no weight
decay, as the authors' ``train_avd.py``) on MultiStepLR (gamma 0.1) at
``train_avd_params.epoch_milestones``. The keypoint detector runs frozen, **in eval mode**
and without gradients: the authors left it in train mode, so their AVD stage rewrote its
BatchNorm statistics (and changed the keypoints every later animation sees); here they
stay exactly as trained.

Per step, for frame pairs of one video (source, driving):
``kp_s = KP(source)``, ``kp_d = KP(driving)``, ``s ~ U[1 - r, 1 + r]^2`` per sample
(``r = random_scale``), ``loss = lambda_shift * mean |AVD(kp_s, diag(s) kp_d) - kp_d|``:
the source gives the identity, the scaled driving keypoints the pose, and the network
must give back the unscaled driving keypoints.

Everything else (data, resume, logging, checkpoints, several GPUs) is the loop of
:mod:`tpsmm.training.loop`; the checkpoint holds every network, the trained AVD
network included, so a model loaded from it has ``avd_available`` true.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

from tpsmm.config import Config, TrainAVDParams
from tpsmm.errors import ConfigError
from tpsmm.model import TPSMM
from tpsmm.training.loop import RunOptions, Trainer, TrainSummary, run_stage
from tpsmm.training.optim import make_adam
from tpsmm.training.visualize import Row

__all__ = ["AVDObjective", "AVDTrainer", "random_scale", "train_avd"]

#: The authors' name of the loss term.
AVD_LOSS = "rec_kp"
#: Samples shown in the visualisation.
VISUAL_SAMPLES = 6


def random_scale(batch: int, scale: float, generator: torch.Generator | None = None) -> Tensor:
    """Per-sample scales (batch, 2) = (sx, sy), uniform in [1 - scale, 1 + scale]."""
    return torch.rand((batch, 2), generator=generator) * (2 * scale) + (1 - scale)


class AVDObjective(nn.Module):
    """The AVD stage's loss for a batch of frame pairs.

    Args:
        model: the networks; the keypoint detector must be in eval mode (the trainer
            keeps it so) and is run without gradients.
        params: ``train_avd_params`` (``lambda_shift``).
    """

    def __init__(self, model: TPSMM, params: TrainAVDParams):
        super().__init__()
        self.model = model
        self.params = params

    def forward(
        self, source: Tensor, driving: Tensor, scales: Tensor
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Losses and keypoints.

        Args:
            source, driving: (B, 3, H, W) in [0, 1].
            scales: (B, 2) the (sx, sy) applied to the driving keypoints.

        Returns:
            ``({'rec_kp': scalar}, {'kp_source', 'kp_driving', 'kp_avd'})``, keypoints
            (B, K*5, 2).
        """
        with torch.no_grad():
            kp_source = self.model.kp_detector(source)
            kp_driving = self.model.kp_detector(driving)
        scaled = kp_driving * scales.to(kp_driving).unsqueeze(1)
        kp_avd = self.model.avd_network(kp_source, scaled)
        loss = self.params.lambda_shift * (kp_avd - kp_driving).abs().mean()
        return {AVD_LOSS: loss}, {
            "kp_source": kp_source,
            "kp_driving": kp_driving,
            "kp_avd": kp_avd,
        }


class AVDTrainer(Trainer):
    """The AVD stage (see the module doc); start it from a trained generator's weights
    (``init_checkpoint``) or resume it."""

    stage = "avd"

    @staticmethod
    def stage_params(config: Config) -> TrainAVDParams:
        return config.train_avd_params

    def prepare_model(self) -> None:
        self.model.requires_grad_(False)
        self.model.avd_network.requires_grad_(True)
        self.model.avd_available = True

    def dataset_params(self) -> dict[str, Any]:
        """Frame pairs only: the AVD loss reads neither ground-truth motion nor landmarks
        nor pseudo flow, so a generator config that asks for them (the demo preset) does
        not make every item compute them."""
        params = super().dataset_params()
        params.update(ground_truth_motion=False, landmarks=False, pseudo_flow=False)
        return params

    def build_module(self) -> nn.Module:
        return AVDObjective(self.model, self.config.train_avd_params)

    def build_optimizers(self) -> dict[str, Optimizer]:
        params = self.config.train_avd_params
        return {"optimizer_avd": make_adam(self.model.avd_network.parameters(), params.lr, 0.0)}

    def set_train_mode(self) -> None:
        self.model.eval()
        self.model.avd_network.train()

    def loss_terms(self) -> list[str]:
        return [AVD_LOSS]

    def compute(self, batch: Mapping[str, Any], epoch: int) -> tuple[dict[str, Tensor], dict]:
        scale = self.config.train_avd_params.random_scale
        scales = self.shared_draw(lambda size, gen: random_scale(size, scale, gen))
        return self.ddp(batch["source"], batch["driving"], scales[self.rank_rows])

    def update(self, epoch: int) -> None:
        self.scaler.step(self.optimizers["optimizer_avd"])

    def visual_rows(self, batch: Mapping[str, Any], generated: Mapping[str, Any]) -> list[Row]:
        """Source and driving frames with their keypoints, and the source animated with
        the AVD keypoints (drawn on it), the AVD network in eval mode."""
        model = self.model
        source, driving = batch["source"][:VISUAL_SAMPLES], batch["driving"][:VISUAL_SAMPLES]
        was_training = model.avd_network.training
        model.avd_network.eval()
        try:
            kp_source = model.kp_detector(source)
            kp_driving = model.kp_detector(driving)
            kp_avd = model.avd_network(kp_source, kp_driving)
            prediction = model.generate(source, kp_source, kp_avd)
        finally:
            model.avd_network.train(was_training)
        return [(source, kp_source), (driving, kp_driving), (prediction, kp_avd)]


def train_avd(
    config: Config,
    options: RunOptions,
    *,
    init_checkpoint: str | Path | None = None,
    resume: str | Path | None = None,
) -> TrainSummary:
    """Train the AVD network (``tpsmm train-avd``).

    Args:
        config: the configuration (``train_avd_params``, ``dataset_params.root_dir`` set).
        options: see :class:`tpsmm.training.loop.RunOptions`.
        init_checkpoint: the trained generator's checkpoint (required unless resuming).
        resume: a run folder or checkpoint of this stage to continue.
    """
    if init_checkpoint is None and resume is None:
        raise ConfigError("train-avd needs the trained model's --checkpoint (or --resume RUN)")
    return run_stage(AVDTrainer, config, options, init_checkpoint=init_checkpoint, resume=resume)
