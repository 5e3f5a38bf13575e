"""Fixtures: the tiny model exported once to ONNX (every mode, with and without the
background predictor)."""

from __future__ import annotations

from pathlib import Path

import pytest
from export_helpers import tiny_export_model

import tpsmm

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="session")
def tiny_onnx_model() -> tpsmm.TPSMM:
    return tiny_export_model()


@pytest.fixture(scope="session")
def tiny_checkpoint_with_bg(tmp_path_factory: pytest.TempPathFactory, tiny_onnx_model) -> Path:
    path = tmp_path_factory.mktemp("tiny-bg") / "tiny.pth.tar"
    return tpsmm.save_checkpoint(path, tiny_onnx_model)


@pytest.fixture(scope="session")
def tiny_export(tmp_path_factory: pytest.TempPathFactory, tiny_onnx_model, tiny_checkpoint_with_bg):
    """(folder, manifest) of the tiny model's full export."""
    folder = tmp_path_factory.mktemp("onnx") / "tiny-onnx"
    manifest = tpsmm.export_onnx(tiny_onnx_model, folder, checkpoint=tiny_checkpoint_with_bg)
    return folder, manifest
