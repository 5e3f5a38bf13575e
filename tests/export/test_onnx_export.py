"""ONNX export of the tiny model: checked graphs, manifest, dynamic batch, parity of the
onnxruntime backend with PyTorch float32 in every mode, with and without the background
predictor, through the Python API and the streaming pipeline."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import onnx
import pytest

import tpsmm
from tpsmm.errors import TPSMMError
from tpsmm.export import OnnxModel
from tpsmm.export.manifest import Manifest, file_sha256

#: float32 rounding differences between onnxruntime's and PyTorch's kernels reach a
#: few 1e-5 on frames in [0, 1]; the issue's bound.
FRAME_ATOL = 1e-4
MODES = ("standard", "relative", "avd")


def _frames(count: int, seed: int, size: int = 64) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (count, size, size, 3), dtype=np.uint8)


def test_graphs_pass_the_full_checker_and_have_no_scatter(tiny_export):
    folder, manifest = tiny_export
    expected = {"source", "reference", "render"} | {
        f"frames_{mode}{suffix}" for mode in MODES for suffix in ("", "_background")
    }
    assert set(manifest.graphs) == expected
    for graph in manifest.graphs.values():
        path = folder / graph.file
        onnx.checker.check_model(str(path), full_check=True)
        model = onnx.load(str(path), load_external_data=False)
        opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
        assert opset >= 17
        ops = Counter(node.op_type for node in model.graph.node)
        assert not [op for op in ops if "Scatter" in op], ops
        assert "Loop" not in ops and "If" not in ops
        # Weights live in the shared file, not in the graph.
        assert path.stat().st_size < 2 * 2**20


def test_manifest_describes_the_graphs(tiny_export, tiny_checkpoint_with_bg):
    folder, manifest = tiny_export
    data = json.loads((folder / "manifest.json").read_text())
    assert data["format"] == "tpsmm-onnx" and data["tpsmm_version"] == tpsmm.__version__
    assert data["checkpoint"]["sha256"] == file_sha256(tiny_checkpoint_with_bg)
    assert data["config"]["model_params"]["common_params"]["num_tps"] == 2
    assert data["frame_size"] == 64 and data["num_keypoints"] == 10
    relative = data["graphs"]["frames_relative"]
    names = [tensor["name"] for tensor in relative["inputs"]]
    assert names == [
        "driving", "source", "kp_source", "source_small",
        "feature_0", "feature_1", "feature_2", "feature_3",
        "kp_reference", "movement_scale",
    ]  # fmt: skip
    assert relative["inputs"][0]["shape"] == ["batch", 3, 64, 64]
    assert relative["outputs"] == [
        {"name": "frames", "shape": ["batch", 3, 64, 64], "dtype": "float32"},
        {"name": "deformation", "shape": ["batch", 16, 16, 2], "dtype": "float32"},
        {"name": "occlusion", "shape": ["batch", 1, 64, 64], "dtype": "float32"},
    ]
    render = data["graphs"]["render"]
    assert [t["name"] for t in render["inputs"]] == [
        "render_source", "source_box", "points", "source", "frames", "deformation", "occlusion"
    ]  # fmt: skip
    assert render["inputs"][0]["shape"] == [1, 3, "source_height", "source_width"]
    assert render["outputs"] == [
        {"name": "rendered", "shape": ["batch", 3, "height", "width"], "dtype": "float32"}
    ]
    assert data["format_version"] == 2
    assert relative["mode"] == "relative" and not relative["background"]
    assert data["graphs"]["source"]["outputs"][0] == {
        "name": "kp_source", "shape": ["batch", 10, 2], "dtype": "float32"
    }  # fmt: skip
    assert Manifest.read(folder) == manifest
    # The weights are stored once for the eight graphs.
    total = sum((folder / g.file).stat().st_size for g in manifest.graphs.values())
    assert (folder / "weights.bin").stat().st_size == manifest.weights["bytes"] > total


@pytest.mark.parametrize("background", [False, True], ids=["bg-off", "bg-on"])
@pytest.mark.parametrize("mode", MODES)
def test_onnxruntime_frames_equal_pytorch(tiny_export, tiny_onnx_model, mode, background):
    """Batches of 3 and 1 (the graphs were traced at 2: the batch is dynamic)."""
    folder, _ = tiny_export
    backend = OnnxModel(folder, device="cpu")
    source, driving = _frames(1, 0)[0], _frames(4, 1)
    expected = tpsmm.animate(
        tiny_onnx_model, source, driving, mode, batch_size=3, background=background
    )
    got = tpsmm.animate(backend, source, driving, mode, batch_size=3, background=background)
    assert got.shape == expected.shape and got.dtype == np.float32
    assert np.abs(got - expected).max() <= FRAME_ATOL
    if background:  # the background predictor changes the frames
        plain = tpsmm.animate(backend, source, driving, mode, batch_size=3)
        assert np.abs(plain - got).max() > 1e-3


def test_reference_graph_scale_equals_the_float64_hull(tiny_export, tiny_onnx_model):
    import torch

    from tpsmm.animation.keypoints import movement_scale

    folder, _ = tiny_export
    backend = OnnxModel(folder, device="cpu")
    animator = backend.animator(_frames(1, 2)[0], "relative")
    animator.set_reference(_frames(1, 3)[0])
    kp_source = torch.from_numpy(animator.state["kp_source"])
    kp_reference = torch.from_numpy(animator.reference["kp_reference"])
    expected = movement_scale(kp_source, kp_reference)
    assert float(animator.reference["movement_scale"][0]) == pytest.approx(expected, rel=1e-5)


def test_streaming_pipeline_runs_on_onnxruntime(tiny_export, tiny_onnx_model, tmp_path):
    """The same VideoAnimator (fit, side by side, reference reset) on both backends."""
    folder, _ = tiny_export
    backend = tpsmm.load_onnx(folder, device="cpu")
    source = _frames(1, 4, size=80)[0]
    video = tmp_path / "driving"
    video.mkdir()
    from PIL import Image

    for index, frame in enumerate(_frames(5, 5, size=96)):
        Image.fromarray(frame[:, :80]).save(video / f"{index:03d}.png")
    outputs = {}
    for name, model in (("torch", tiny_onnx_model), ("onnxruntime", backend)):
        animator = tpsmm.VideoAnimator(model, source, fit="pad", batch_size=2)
        outputs[name] = np.concatenate(list(animator.stream(video, side_by_side=True)))
        assert animator.backend.backend_name == name
    assert outputs["torch"].shape == (5, 64, 192, 3)
    difference = np.abs(outputs["torch"].astype(int) - outputs["onnxruntime"].astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.01


def test_missing_graphs_and_options_give_one_line_errors(tiny_export, tmp_path):
    folder, _ = tiny_export
    with pytest.raises(TPSMMError, match=r"no manifest\.json"):
        OnnxModel(tmp_path)
    with pytest.raises(TPSMMError, match="optimisation level"):
        OnnxModel(folder, optimization="max")
    with pytest.raises(TPSMMError, match="cpu or cuda"):
        OnnxModel(folder, device="mps")
    with pytest.raises(TPSMMError, match="not empty"):
        tpsmm.export_onnx(tpsmm.TPSMM("vox-256"), folder)


def test_cuda_provider_is_selectable_only_where_onnxruntime_has_it():
    from tpsmm.export.runtime import resolve_providers

    cuda = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert resolve_providers("auto", cuda) == cuda
    assert resolve_providers("cuda", cuda) == cuda
    assert resolve_providers("auto", ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    with pytest.raises(TPSMMError, match="onnxruntime-gpu"):
        resolve_providers("cuda", ["CPUExecutionProvider"])


def test_the_onnxruntime_animator_runs_no_torch_operator(tiny_export):
    """Per frame, nothing wakes torch's thread pool, which would then compete with
    onnxruntime's for the cores (15 ms more per 128x128 frame on 2 cores)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.calls = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.calls.append(str(func))
            return func(*args, **(kwargs or {}))

    folder, _ = tiny_export
    for mode in MODES:
        animator = OnnxModel(folder, device="cpu").animator(_frames(1, 6)[0], mode)
        with Recorder() as recorder:
            animator.animate(_frames(2, 7))
            animator.animate(_frames(1, 8)[0])
        assert recorder.calls == [], mode
    # Above the model's size (render.onnx after the frames graph) too.
    source = _frames(1, 9, size=100)[0]
    animator = OnnxModel(folder, device="cpu").animator(source, "relative", resolution=96)
    with Recorder() as recorder:
        frames = animator.animate(_frames(2, 10))
    assert recorder.calls == [] and frames.shape == (2, 96, 96, 3)


def test_frames_reach_the_graphs_as_frames_to_tensor_makes_them():
    from tpsmm.animation import frames_to_tensor
    from tpsmm.export.runtime import _nchw

    every_value = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1).repeat(3, axis=3)
    floats = np.random.default_rng(0).random((2, 8, 8, 3))  # float64 in [0, 1]
    for frames in (every_value, every_value[0], floats, every_value[:, ::-1]):
        expected = frames_to_tensor(frames.copy()).numpy()
        got = _nchw(frames)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, expected)
    with pytest.raises(TPSMMError, match=r"frames must be \(T, H, W, 3\)"):
        _nchw(np.zeros((2, 8, 8, 4), np.uint8))
