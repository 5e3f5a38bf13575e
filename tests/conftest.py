"""Shared fixtures: the reference fixtures and the cached reference weights (see
:mod:`reference_weights`), the tiny seeded model (see :mod:`tiny_model`), and the
command-line runner (``run_cli``)."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from reference_weights import REFERENCE, reference_weights
from tiny_model import save_tiny_checkpoint

# A test runner started in the background by a non-interactive shell inherits SIGINT
# ignored, and so would every child process; the signal tests need Ctrl-C's usual
# behaviour, in this process and in the commands they start.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def reference_checkpoint() -> Path:
    """Path to the reference-weight checkpoint in the authors' layout (vox-256)."""
    return reference_weights()[0]


@pytest.fixture(scope="session")
def reference_vgg19(reference_checkpoint: Path) -> Path:
    """Path to the reference VGG-19 weights (torchvision layout)."""
    return reference_checkpoint.parent / "vgg19.pth"


@pytest.fixture(scope="session")
def reference_layout() -> dict:
    """The authors' checkpoint layout (tests/reference/tpsmm_keys.json)."""
    return json.loads((REFERENCE / "tpsmm_keys.json").read_text())


@pytest.fixture(scope="session")
def parity_vox256() -> dict[str, np.ndarray]:
    """The authors' inference outputs for the reference weights, compact (see
    tests/reference/README.md: driving frames 0 and 1; ``pred_*_index`` says which of them
    each prediction holds)."""
    with np.load(REFERENCE / "parity_vox256.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def parity_train_vox128() -> dict[str, np.ndarray]:
    """The authors' training forward/backward for the reference weights."""
    with np.load(REFERENCE / "parity_train_vox128.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.fixture(scope="session")
def reference_model(reference_checkpoint: Path):
    """The reference checkpoint loaded as a TPSMM (eval mode, CPU), shared by tests that
    only read it."""
    import tpsmm

    return tpsmm.load_model(reference_checkpoint)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny seeded model (:mod:`tiny_model`: 64x64, 2 TPS, no background predictor)
    with its AVD network, as a tpsmm checkpoint file."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "tiny.pth.tar")


@pytest.fixture(scope="session")
def tiny_checkpoint_no_avd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved without its AVD network."""
    path = tmp_path_factory.mktemp("tiny-no-avd") / "tiny-no-avd.pth.tar"
    return save_tiny_checkpoint(path, include_avd=False)


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint: Path):
    """The tiny model loaded from ``tiny_checkpoint`` (eval mode, CPU, float32), shared by
    tests that only read it."""
    import tpsmm

    return tpsmm.load_model(tiny_checkpoint)


@dataclass
class CliResult:
    status: int
    out: str
    err: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


@pytest.fixture
def run_cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., CliResult]:
    """Run ``tpsmm ARGS`` in this process; returns the exit status and captured output."""
    monkeypatch.delenv("TPSMM_CHECKPOINT", raising=False)

    import tpsmm.cli

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        status = tpsmm.cli.main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return CliResult(status, captured.out, captured.err)

    return run
