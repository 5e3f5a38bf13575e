"""THE tiny seeded TPSMM of the tests: one declaration, used by every test that needs a
model but not the reference weights.

>>> from tiny_model import tiny_config, tiny_model, save_tiny_checkpoint
>>> model = tiny_model()                          # eval mode, 64x64, seeded weights
>>> path = save_tiny_checkpoint(tmp_path / "tiny.pth.tar")

Fixtures in ``tests/conftest.py`` give the same model once per session:
``tiny_checkpoint`` (a file, with an AVD network), ``tiny_checkpoint_no_avd``,
``tiny_model`` (loaded from ``tiny_checkpoint``).

The architecture is the authors' (the networks of vox-256) at its smallest useful size:
2 TPS transforms (10 keypoints), 8 base channels and at most 32 in the dense motion and
inpainting networks (3 down blocks each), multi-resolution masks, a small AVD network,
frames of 64x64 (``frame_size=32`` for the training tests). A background predictor only
with ``bg=True``. The schedules are short (2 epochs, 5 repeats, batch 2, a checkpoint
per epoch) and the augmentation is flips only, so a training run takes seconds. Animating
a 64x64 frame takes a few milliseconds on two CPU cores.

No pytest here: benchmarks and other tools may import this module too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tpsmm.checkpoint import save_checkpoint
from tpsmm.config import Config, config_from_dict
from tpsmm.model import TPSMM

#: Frame size of the tiny model (its ``default_frame_size``).
TINY_FRAME_SIZE = 64
#: Seed of the tiny model's weights.
TINY_SEED = 0


def tiny_config_dict(
    *, frame_size: int = TINY_FRAME_SIZE, bg: bool = False, root: str | Path | None = None
) -> dict[str, Any]:
    """The tiny configuration as plain data (what ``config.yaml`` of a run holds)."""
    return {
        "dataset_params": {
            "root_dir": str(root) if root is not None else None,
            "frame_shape": [frame_size, frame_size],
            "id_sampling": False,
            "augmentation_params": {"flip_param": {"horizontal_flip": True, "time_flip": True}},
        },
        "model_params": {
            "common_params": {"num_tps": 2, "num_channels": 3, "bg": bg, "multi_mask": True},
            "generator_params": {"block_expansion": 8, "max_features": 32, "num_down_blocks": 3},
            "dense_motion_params": {
                "block_expansion": 8,
                "max_features": 32,
                "num_blocks": 3,
                "scale_factor": 0.25,
            },
            "avd_network_params": {"id_bottle_size": 16, "pose_bottle_size": 16},
        },
        "train_params": {
            "num_epochs": 2,
            "num_repeats": 5,
            "epoch_milestones": [1],
            "lr_generator": 2.0e-4,
            "batch_size": 2,
            "scales": [1, 0.5],
            "dropout_epoch": 1,
            "dropout_maxp": 0.3,
            "dropout_startp": 0.1,
            "dropout_inc_epoch": 10,
            "bg_start": 1,
            "dataloader_workers": 0,
            "checkpoint_freq": 1,
        },
        "train_avd_params": {
            "num_epochs": 2,
            "num_repeats": 4,
            "batch_size": 4,
            "epoch_milestones": [1],
            "lr": 1.0e-3,
            "lambda_shift": 1,
            "random_scale": 0.25,
            "dataloader_workers": 0,
            "checkpoint_freq": 1,
        },
        "visualizer_params": {"kp_size": 2, "draw_border": True, "colormap": "gist_rainbow"},
        "default_frame_size": frame_size,
        "name": "tiny",
    }


def tiny_config(
    *,
    frame_size: int = TINY_FRAME_SIZE,
    bg: bool = False,
    root: str | Path | None = None,
    **changes: Any,
) -> Config:
    """The tiny :class:`Config`, with dotted-path ``changes`` written with ``__`` for the
    dots (``train_params__num_epochs=3``)."""
    config = config_from_dict(tiny_config_dict(frame_size=frame_size, bg=bg, root=root))
    if changes:
        config = config.replace(**{key.replace("__", "."): v for key, v in changes.items()})
    return config


def tiny_model(config: Config | None = None, *, seed: int = TINY_SEED, **options: Any) -> TPSMM:
    """A :class:`TPSMM` of ``config`` (default :func:`tiny_config` of ``options``) with
    weights drawn from ``seed`` (the global random state is left as it was), in eval mode."""
    config = tiny_config(**options) if config is None else config
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return TPSMM(config).eval()


def save_tiny_checkpoint(
    path: str | Path, *, include_avd: bool = True, seed: int = TINY_SEED, **options: Any
) -> Path:
    """:func:`tiny_model` saved as a tpsmm checkpoint at ``path`` (its config inside)."""
    model = tiny_model(seed=seed, **options)
    return save_checkpoint(path, model, include_avd=include_avd)
