"""Fixtures of the web app's tests: the tiny seeded model as a checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny_model import save_tiny_checkpoint


@pytest.fixture(scope="session")
def serve_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny seeded model (tests/tiny_model.py: 64x64, 2 TPS) with an AVD network, as a
    checkpoint file."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp("serve-model") / "tiny.pth.tar")
