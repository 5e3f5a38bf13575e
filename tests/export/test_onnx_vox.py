"""The full vox-256 architecture (reference weights) exported to ONNX: onnxruntime
frames within 1e-4 of PyTorch float32 on the parity inputs, every mode, background
predictor on and off. Slow: the export takes minutes on two cores."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import tpsmm
from tpsmm.export import OnnxModel

pytestmark = pytest.mark.slow

FRAME_ATOL = 1e-4


@pytest.fixture(scope="module")
def vox_export(tmp_path_factory, reference_model, reference_checkpoint):
    folder = tmp_path_factory.mktemp("vox-onnx") / "export"
    manifest = tpsmm.export_onnx(reference_model, folder, checkpoint=reference_checkpoint)
    return folder, manifest


def test_vox_graphs_checked_and_described(vox_export):
    folder, manifest = vox_export
    assert manifest.frame_size == 256 and manifest.num_keypoints == 50
    assert len(manifest.graphs) == 8
    for graph in manifest.graphs.values():
        onnx.checker.check_model(str(folder / graph.file), full_check=True)


@pytest.mark.parametrize("background", [False, True], ids=["bg-off", "bg-on"])
@pytest.mark.parametrize("mode", ["standard", "relative", "avd"])
def test_vox_parity(vox_export, reference_model, parity_vox256, mode, background):
    folder, _ = vox_export
    backend = OnnxModel(folder, device="cpu")
    source, driving = parity_vox256["source"], parity_vox256["driving"]
    expected = tpsmm.animate(
        reference_model, source, driving, mode, batch_size=3, background=background
    )
    got = tpsmm.animate(backend, source, driving, mode, batch_size=3, background=background)
    error = float(np.abs(got - expected).max())
    print(f"{mode} background={background}: max abs {error:.2e}")
    assert error <= FRAME_ATOL
