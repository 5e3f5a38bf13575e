"""Shared fixtures: the reference fixtures from ../shared and the cached reference
weights (see :mod:`reference_weights`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reference_weights import REFERENCE, SHARED, WEIGHTS_SCRIPT, reference_weights


def _require_shared() -> None:
    if not WEIGHTS_SCRIPT.exists():
        pytest.skip(f"reference fixtures not found under {SHARED} (set TPSMM_SHARED)")


@pytest.fixture(scope="session")
def reference_checkpoint() -> Path:
    """Path to the reference-weight checkpoint in the authors' layout (vox-256)."""
    _require_shared()
    return reference_weights()[0]


@pytest.fixture(scope="session")
def reference_vgg19(reference_checkpoint: Path) -> Path:
    """Path to the reference VGG-19 weights (torchvision layout)."""
    return reference_checkpoint.parent / "vgg19.pth"


@pytest.fixture(scope="session")
def reference_layout() -> dict:
    """The authors' checkpoint layout (../shared/reference/tpsmm_keys.json)."""
    _require_shared()
    return json.loads((REFERENCE / "tpsmm_keys.json").read_text())


@pytest.fixture(scope="session")
def parity_vox256() -> dict[str, np.ndarray]:
    """The authors' inference outputs for the reference weights (see ../shared/reference)."""
    _require_shared()
    with np.load(REFERENCE / "parity_vox256.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def parity_train_vox128() -> dict[str, np.ndarray]:
    """The authors' training forward/backward for the reference weights."""
    _require_shared()
    with np.load(REFERENCE / "parity_train_vox128.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def reference_model(reference_checkpoint: Path):
    """The reference checkpoint loaded as a TPSMM (eval mode, CPU), shared by tests that
    only read it."""
    import tpsmm

    return tpsmm.load_model(reference_checkpoint)
