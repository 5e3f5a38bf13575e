"""Fixtures for the animation job and its command line: the CLI runner.

The models (``tiny_checkpoint``, ``tiny_model``, ``reference_checkpoint``,
``reference_model``) come from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

import tpsmm
import tpsmm.cli


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
