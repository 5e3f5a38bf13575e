"""The run folder's checkpoint as ``--resume`` reads it.

``RUN/checkpoint.pth.tar`` holds the networks in the authors' layout and the config
(:func:`tpsmm.checkpoint.save_checkpoint`), ``epoch`` (the last completed epoch, as the
authors store it), the optimizer states under the authors' names (``optimizer``,
``optimizer_bg_predictor``; ``optimizer_avd``) and, under :data:`STATE_KEY`, what
resuming needs (see :mod:`tpsmm.training.checkpointing`). Everything loads with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tpsmm.checkpoint import TRAINING_KEY, read_checkpoint, stored_config
from tpsmm.config import Config
from tpsmm.errors import CheckpointError

__all__ = ["CHECKPOINT_NAME", "STATE_KEY", "load_resume", "resume_checkpoint_path"]

CHECKPOINT_NAME = "checkpoint.pth.tar"
STATE_KEY = TRAINING_KEY


def resume_checkpoint_path(path: str | Path) -> Path:
    """The checkpoint of ``--resume PATH``: ``PATH/checkpoint.pth.tar`` for a run folder,
    ``PATH`` for a file."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.exists():
        raise CheckpointError(f"cannot resume: {path} does not exist")
    return path


def load_resume(path: str | Path, stage: str) -> tuple[dict[str, Any], Config]:
    """Read a run's checkpoint for ``--resume``: ``(raw contents, stored config)``.

    Raises:
        CheckpointError: the file is not a resumable tpsmm checkpoint of ``stage``.
    """
    file = resume_checkpoint_path(path)
    raw = read_checkpoint(file)
    state = raw.get(STATE_KEY)
    config = stored_config(raw)
    if not isinstance(state, Mapping) or config is None:
        raise CheckpointError(
            f"cannot resume from {file}: it holds no tpsmm training state (an authors' or "
            "exported checkpoint); start a new run from it with --checkpoint instead"
        )
    if state.get("stage") != stage:
        raise CheckpointError(
            f"cannot resume from {file}: it is a {state.get('stage')!r} run, not {stage!r}"
        )
    return raw, config
