"""Fixtures of the web app's tests: the tiny seeded model as a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import tpsmm
from cli.cli_helpers import tiny_config


@pytest.fixture(scope="session")
def serve_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random model (64x64, 2 TPS) with an AVD network, as a checkpoint file."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("serve-model") / "tiny.pth.tar"
    return tpsmm.save_checkpoint(path, tpsmm.TPSMM(tiny_config()).eval())
