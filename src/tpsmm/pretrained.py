"""Models that ship inside the package, and packing a trained run into one.

``tpsmm.load_model("demo")`` loads the bundled demo model: a small TPSMM (the ``demo``
preset, 128x128, with the heatmap keypoint head) trained on synthetic videos, then on
real faces with their landmarks, by ``make demo-model`` (see the README), stored in
float16 and loaded as float32. A name in :data:`BUNDLED_MODELS` means the bundled file
wherever a checkpoint path is accepted, unless a file of that name exists
(:mod:`tpsmm.bundled`).

``python -m tpsmm.pretrained pack RUN/checkpoint.pth.tar OUT.pth.tar`` writes a trained
checkpoint as a bundle: the networks only (no optimizer states), floating-point weights
in float16, the config and a record of how it was made (``tpsmm_info``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from tpsmm.bundled import BUNDLED_MODELS, bundled_path, is_bundled
from tpsmm.checkpoint import CONFIG_KEY, NETWORKS, TRAINING_KEY, read_checkpoint
from tpsmm.config import config_from_dict, load_config
from tpsmm.errors import CheckpointError, ConfigError
from tpsmm.files import atomic_path

__all__ = ["BUNDLED_MODELS", "INFO_KEY", "bundled_path", "is_bundled", "pack_checkpoint"]

#: Entry of a packed checkpoint recording how it was made (a JSON-able dict).
INFO_KEY = "tpsmm_info"
#: What a bundle keeps of the last training stage's record (not its random states).
TRAINING_SUMMARY = ("stage", "epoch", "global_step", "elapsed", "seed", "world_size", "batch_size")


def pack_checkpoint(
    checkpoint: str | os.PathLike,
    out: str | os.PathLike,
    *,
    dtype: torch.dtype = torch.float16,
    info: Mapping[str, Any] | None = None,
    config: str | os.PathLike | None = None,
) -> Path:
    """Write the networks and config of ``checkpoint`` to ``out`` as a bundle.

    Floating-point tensors are stored in ``dtype`` (loading converts them back to the
    model's float32); integer buffers (BatchNorm's counters) are kept. Optimizer states,
    epochs and everything else of a training checkpoint are left out.

    Args:
        checkpoint: a tpsmm checkpoint (it must carry its config).
        out: the bundle to write (atomically).
        dtype: storage type of the weights.
        info: recorded under :data:`INFO_KEY` (e.g. the training command), with the
            checkpoint's own training record (stage, steps, seconds) as ``training``.
        config: a preset name or YAML file whose config the bundle carries instead of the
            checkpoint's (that of its last training stage); its ``model_params`` must be
            the checkpoint's.

    Raises:
        CheckpointError: the checkpoint carries no config.
        ConfigError: ``config`` describes other networks than the checkpoint's.
    """
    raw = read_checkpoint(checkpoint)
    if not isinstance(raw.get(CONFIG_KEY), Mapping):
        raise CheckpointError(f"checkpoint {checkpoint} carries no tpsmm config to bundle")
    stored = raw[CONFIG_KEY]
    if config is not None:
        stored = _replacement_config(config, stored)
    record = dict(info or {})
    training = raw.get(TRAINING_KEY)
    if isinstance(training, Mapping):
        summary = {key: training[key] for key in TRAINING_SUMMARY if key in training}
        record.setdefault("training", summary)
    payload: dict[str, Any] = {CONFIG_KEY: stored, INFO_KEY: record}
    for name in NETWORKS:
        state = raw.get(name)
        if isinstance(state, Mapping):
            payload[name] = {
                key: value.to(dtype) if value.is_floating_point() else value
                for key, value in state.items()
            }
    out = Path(out)
    with atomic_path(out) as tmp:
        torch.save(payload, tmp)
    return out


def _replacement_config(config: str | os.PathLike, stored: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` as the dict a checkpoint stores, once its networks are known to be the
    ones ``stored`` (a checkpoint's config) describes."""
    replacement = load_config(config)
    if replacement.model_params != config_from_dict(stored).model_params:
        raise ConfigError(f"config {config} describes other networks than the checkpoint's")
    return replacement.to_dict()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tpsmm.pretrained pack CHECKPOINT OUT [--info JSON]``."""
    parser = argparse.ArgumentParser(prog="python -m tpsmm.pretrained")
    actions = parser.add_subparsers(dest="action", required=True)
    pack = actions.add_parser("pack", help="write a trained checkpoint as a float16 bundle")
    pack.add_argument("checkpoint")
    pack.add_argument("out")
    pack.add_argument("--info", default="{}", help="a JSON object recorded in the bundle")
    pack.add_argument(
        "--config",
        help="preset name or YAML file for the bundle's config (the same networks; default: "
        "the checkpoint's)",
    )
    args = parser.parse_args(argv)
    try:
        out = pack_checkpoint(
            args.checkpoint, args.out, info=json.loads(args.info), config=args.config
        )
    except (CheckpointError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
