"""The full vox-256 architecture (reference weights) exported to ONNX: onnxruntime
frames against PyTorch float32 and float64 on the parity inputs, every mode, background
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
def test_vox_parity(
    vox_export, reference_model, reference_checkpoint, parity_vox256, mode, background
):
    """onnxruntime within 1e-4 of PyTorch float32, or, where float32 itself is further
    than that from the exact frames, as close to them as PyTorch float32 is (within 3x).

    The exact frames are PyTorch's in float64. The reference weights' AVD network puts
    the driving keypoints close together (within 0.12 of the centre), and the splines
    fitted to them amplify float32 rounding: measured on an AMD EPYC (AVX-512), PyTorch
    float32 is 2.1e-4 to 3.3e-4 from float64 in avd mode and onnxruntime 3.4e-4 to
    3.7e-4 (3.2e-4 to 3.9e-4 from PyTorch float32); in the other modes all three agree
    within 3.3e-5."""
    folder, _ = vox_export
    backend = OnnxModel(folder, device="cpu")
    source, driving = parity_vox256["source"], parity_vox256["driving"]
    options = {"batch_size": 3, "background": background}
    expected = tpsmm.animate(reference_model, source, driving, mode, **options)
    got = tpsmm.animate(backend, source, driving, mode, **options)
    exact_model = tpsmm.load_model(reference_checkpoint, "vox-256").double()
    exact = tpsmm.animate(
        exact_model, source.astype(np.float64) / 255, driving.astype(np.float64) / 255, mode,
        **options,
    )  # fmt: skip
    error = float(np.abs(got - expected).max())
    torch_error = float(np.abs(expected - exact).max())
    ort_error = float(np.abs(got - exact).max())
    print(
        f"{mode} background={background}: onnxruntime - torch float32 {error:.2e}, "
        f"torch float32 - float64 {torch_error:.2e}, onnxruntime - float64 {ort_error:.2e}"
    )
    assert error <= FRAME_ATOL or ort_error <= 3 * torch_error
