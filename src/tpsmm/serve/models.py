"""The models a server offers: each loaded once at start-up and kept, listed by name.

The bundled demo model comes first when this install has it (``tpsmm.load_model("demo")``),
then every checkpoint given with ``--checkpoint``, named after its file (``vox.pth.tar``
-> ``vox``; a training run's ``checkpoint.pth.tar`` -> the run folder's name) or as given
(``NAME=FILE``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from tpsmm.animation.animator import load_animation_model
from tpsmm.errors import CheckpointError, TPSMMError
from tpsmm.model import TPSMM

#: The bundled model's name for :func:`tpsmm.load_model`.
DEMO_MODEL = "demo"

# Suffixes stripped from a checkpoint's file name to name the model.
_CHECKPOINT_SUFFIXES = frozenset({".tar", ".pth", ".pt", ".ckpt", ".bin", ".safetensors", ".st"})
# File names that say nothing about the model: the folder names it instead.
_GENERIC_STEMS = frozenset({"checkpoint", "model", "weights", "last", "best"})


@dataclass(frozen=True)
class ServedModel:
    """One model of the server.

    Attributes:
        name: how the page lists it; model: the loaded network, in eval mode.
        origin: where it came from (a path, or ``bundled``).
    """

    name: str
    model: TPSMM
    origin: str

    @property
    def has_avd(self) -> bool:
        """Whether the avd mode is available (the checkpoint holds an AVD network)."""
        return self.model.avd_network is not None

    @property
    def frame_size(self) -> int:
        """The model's square frame size."""
        return self.model.frame_size

    def describe(self) -> str:
        """``vox: 256x256, 10 TPS, avd (vox.pth.tar)`` for the start-up message."""
        common = self.model.config.model_params.common_params
        avd = ", avd" if self.has_avd else ""
        return (
            f"{self.name}: {self.frame_size}x{self.frame_size}, {common.num_tps} TPS{avd} "
            f"({self.origin})"
        )


def model_name(checkpoint: str | os.PathLike) -> str:
    """A short name for a checkpoint file: its name without the checkpoint suffixes, or
    its folder's name when the file name is generic (``runs/vox/checkpoint.pth.tar``)."""
    path = Path(checkpoint)
    name = path.name
    while Path(name).suffix.lower() in _CHECKPOINT_SUFFIXES:
        name = Path(name).stem
    if (not name or name.lower() in _GENERIC_STEMS) and path.parent.name:
        return path.parent.resolve().name if path.parent.name == "." else path.parent.name
    return name or path.name


def split_checkpoint_argument(argument: str) -> tuple[str, str]:
    """``NAME=FILE`` -> (NAME, FILE); ``FILE`` -> (:func:`model_name`, FILE)."""
    name, sep, file = argument.partition("=")
    if sep and name and file and not Path(argument).exists():
        return name, file
    return model_name(argument), argument


class ModelRegistry:
    """The server's models by name, in the order the page lists them (the first is the
    default)."""

    def __init__(self, models: Sequence[ServedModel]):
        if not models:
            raise TPSMMError("no model to serve")
        self._models: dict[str, ServedModel] = {}
        for served in models:
            if served.name in self._models:
                raise TPSMMError(
                    f"two models are named {served.name!r}; name them with --checkpoint NAME=FILE"
                )
            self._models[served.name] = served

    @classmethod
    def load(
        cls,
        checkpoints: Sequence[str],
        *,
        config: str | None = None,
        include_demo: bool = True,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "float32",
    ) -> ModelRegistry:
        """Load the bundled demo model (when this install has it and ``include_demo``)
        and each of ``checkpoints`` (``FILE`` or ``NAME=FILE``), once.

        Raises:
            TPSMMError: a checkpoint that does not load (one line naming it), two models
                of one name, or nothing to serve.
        """
        models = []
        if include_demo:
            demo = load_demo_model(device=device, dtype=dtype)
            if demo is not None:
                models.append(demo)
        for argument in checkpoints:
            name, file = split_checkpoint_argument(argument)
            model = load_animation_model(file, config, device=device, dtype=dtype)
            models.append(ServedModel(name, model, file))
        if not models:
            raise TPSMMError(
                "no model to serve: this install has no bundled demo model; give "
                "--checkpoint FILE (e.g. the authors' vox.pth.tar)"
            )
        return cls(models)

    @property
    def names(self) -> list[str]:
        """The models' names, the default first."""
        return list(self._models)

    @property
    def default(self) -> ServedModel:
        """The model the page selects at first."""
        return next(iter(self._models.values()))

    def __getitem__(self, name: str) -> ServedModel:
        try:
            return self._models[name]
        except KeyError:
            raise TPSMMError(
                f"unknown model {name!r}; this server has {', '.join(self._models)}"
            ) from None

    def __iter__(self) -> Iterator[ServedModel]:
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)


def load_demo_model(
    *, device: str | torch.device = "auto", dtype: str | torch.dtype = "float32"
) -> ServedModel | None:
    """The bundled demo model, or None when this install does not ship one."""
    try:
        model = load_animation_model(DEMO_MODEL, device=device, dtype=dtype)
    except CheckpointError:
        if Path(DEMO_MODEL).exists():
            raise
        return None
    return ServedModel(DEMO_MODEL, model, "bundled")
