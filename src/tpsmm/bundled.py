"""The names of the models that ship inside the package, and their files.

A name in :data:`BUNDLED_MODELS` means the bundled file wherever a checkpoint path is
accepted (:func:`tpsmm.checkpoint.read_checkpoint`), unless a file of that name exists.
Packing a trained run into a bundle: :mod:`tpsmm.pretrained`.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from tpsmm.errors import CheckpointError

#: Bundled model names -> their file in ``tpsmm/assets``.
BUNDLED_MODELS: dict[str, str] = {"demo": "demo.pth.tar"}


def is_bundled(name: str | os.PathLike) -> bool:
    """Whether ``name`` names a bundled model (and no file of that name exists)."""
    return str(name) in BUNDLED_MODELS and not Path(name).exists()


def bundled_path(name: str) -> Path:
    """The file of bundled model ``name``.

    Raises:
        CheckpointError: an unknown name, or a package installed without the file.
    """
    if name not in BUNDLED_MODELS:
        raise CheckpointError(
            f"unknown bundled model {name!r}; bundled: {', '.join(BUNDLED_MODELS)}"
        )
    path = Path(str(resources.files("tpsmm") / "assets" / BUNDLED_MODELS[name]))
    if not path.is_file():
        raise CheckpointError(
            f"the bundled {name} model is missing from this installation ({path}); "
            "reinstall tpsmm, or rebuild it with `make demo-model`"
        )
    return path
