"""Fixtures for the animation job and its command line: tiny models and the CLI runner.

The reference weights (``reference_checkpoint``, ``reference_model``) come from
``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from cli_helpers import tiny_config

import tpsmm
import tpsmm.cli


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random model (64x64, 2 TPS) with an AVD network, as a checkpoint file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "tiny.pth.tar"
    return tpsmm.save_checkpoint(path, tpsmm.TPSMM(tiny_config()).eval())


@pytest.fixture(scope="session")
def tiny_checkpoint_no_avd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model saved without its AVD network."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-no-avd") / "tiny-no-avd.pth.tar"
    return tpsmm.save_checkpoint(path, tpsmm.TPSMM(tiny_config()).eval(), include_avd=False)


@pytest.fixture(scope="session")
def tiny_model(tiny_checkpoint: Path) -> tpsmm.TPSMM:
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

    def run(*args: object) -> CliResult:
        capsys.readouterr()
        status = tpsmm.cli.main([str(arg) for arg in args])
        captured = capsys.readouterr()
        return CliResult(status, captured.out, captured.err)

    return run
