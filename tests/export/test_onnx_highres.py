"""Frames above the model's size on onnxruntime: the render graph against the PyTorch
renderer at sizes it was not traced at, the whole path against PyTorch float32 in every
mode with and without the background predictor, and export folders from before
``--resolution`` (format version 1)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

import tpsmm
from float32_bounds import U
from tpsmm import highres
from tpsmm.errors import TPSMMError
from tpsmm.export import OnnxModel

MODES = ("standard", "relative", "avd")
#: Output sizes: odd, and above the source's (the renderer then interpolates it).
SIZES = (97, 160)
#: Float32 operations on a sampling position (see tests/test_highres.py) and the
#: steepest slope of a bicubic interpolant of [0, 1] values, per pixel.
COORDINATE_OPS = 16
BICUBIC_SLOPE = 3.0
#: The largest sum of the absolute weights of 2-D bicubic interpolation (a = -0.75):
#: (1 + 2 * 0.1406)^2 at the half-pixel phase; a difference of the model's frames grows
#: at most by this when upsampled.
BICUBIC_GAIN = 1.65


def _images(count: int, seed: int, height: int, width: int | None = None) -> np.ndarray:
    width = height if width is None else width
    shape = (count, height, width, 3)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _rounding(pixels: int) -> float:
    """What float32 rounding alone can change in a rendered value (sampling positions in
    an image ``pixels`` wide, then a few operations)."""
    return BICUBIC_SLOPE * COORDINATE_OPS * U * pixels + 16 * U


def test_render_graph_equals_the_torch_renderer_at_untraced_sizes(tiny_export, tiny_onnx_model):
    folder, _ = tiny_export
    backend = OnnxModel(folder, device="cpu")
    model = tiny_onnx_model
    source = _images(1, 0, 64)[0]
    driving = torch.from_numpy(_images(2, 1, 64)).permute(0, 3, 1, 2).float() / 255
    animator = tpsmm.Animator(model, source, "standard")
    made = animator.model_frames(animator.model.keypoints(driving), driving)
    for height, width, out_height, out_width in ((75, 90, 97, 131), (120, 120, 160, 160)):
        full = torch.from_numpy(_images(1, 2, height, width)).permute(0, 3, 1, 2).float() / 255
        points = highres.frame_grid(out_height, out_width)
        box = torch.tensor([-1.0, -1.0, 1.0, 1.0])
        names = ("render_source", "source_box", "points", "source", *made._fields)
        tensors = (full, box, points, animator.state.image, *made)
        feeds = {name: tensor.numpy() for name, tensor in zip(names, tensors, strict=True)}
        expected = highres.render(full, animator.state.image, *made, points, box)
        (got,) = backend.run("render", feeds)
        assert got.shape == (2, 3, out_height, out_width)
        difference = np.abs(got - expected.numpy()).max()
        assert difference <= _rounding(max(height, width, out_height, out_width)), difference


@pytest.mark.parametrize("background", [False, True], ids=["bg-off", "bg-on"])
@pytest.mark.parametrize("mode", MODES)
def test_onnxruntime_resolution_equals_pytorch(tiny_export, tiny_onnx_model, mode, background):
    """The rendered frames differ by what the model's outputs differ by, carried through
    the renderer (the frames' difference at most amplified by bicubic upsampling, the
    deformation's moving the full-resolution samples), plus float32 rounding."""
    folder, _ = tiny_export
    backend = OnnxModel(folder, device="cpu")
    source, driving = _images(1, 3, 120)[0], _images(3, 4, 64)
    for size in SIZES:
        options = {"batch_size": 2, "background": background, "resolution": size}
        expected = tpsmm.animate(tiny_onnx_model, source, driving, mode, **options)
        got = tpsmm.animate(backend, source, driving, mode, **options)
        assert got.shape == expected.shape == (3, size, size, 3)
        # The model's outputs on both backends, for the bound.
        torch_animator = tpsmm.Animator(
            tiny_onnx_model, source, mode, background=background, resolution=size
        )
        onnx_animator = backend.animator(source, mode, background=background, resolution=size)
        frames = torch.from_numpy(driving).permute(0, 3, 1, 2).float() / 255
        made = torch_animator.model_frames(torch_animator.model.keypoints(frames), frames)
        feeds = {"driving": frames.numpy(), **onnx_animator.state}
        if mode == "relative":
            onnx_animator.set_reference(driving[0])
            feeds |= onnx_animator.reference
        graph = onnx_animator.graph
        outputs = backend.run(graph.name, {name: feeds[name] for name in graph.input_names})
        frames_error, deformation_error, occlusion_error = (
            float(np.abs(a - b.numpy()).max()) for a, b in zip(outputs, made, strict=True)
        )
        moved_pixels = deformation_error * size / 2  # normalised -> output pixels
        bound = (
            BICUBIC_GAIN * frames_error
            + occlusion_error
            + BICUBIC_SLOPE * moved_pixels
            + BICUBIC_GAIN * BICUBIC_SLOPE * deformation_error * 64 / 2  # the model's warp
            + _rounding(size)
        )
        assert np.abs(got - expected).max() <= bound, (size, bound)


def test_exports_before_resolution_animate_at_the_model_size_only(tiny_export, tmp_path):
    """A format-version-1 folder: no render graph, frames graphs with one output."""
    folder, _ = tiny_export
    old = tmp_path / "old-export"
    old.mkdir()
    for path in folder.iterdir():
        (old / path.name).symlink_to(path)
    (old / "manifest.json").unlink()
    data = json.loads((folder / "manifest.json").read_text())
    data["format_version"] = 1
    del data["graphs"]["render"]
    for graph in data["graphs"].values():
        if graph["mode"] is not None:
            graph["outputs"] = graph["outputs"][:1]
    (old / "manifest.json").write_text(json.dumps(data))
    backend = OnnxModel(old, device="cpu")
    source, driving = _images(1, 7, 64)[0], _images(2, 8, 64)
    frames = tpsmm.animate(backend, source, driving, "standard")
    assert frames.shape == (2, 64, 64, 3)
    with pytest.raises(TPSMMError, match=r"written before --resolution.*export the model again"):
        tpsmm.animate(backend, source, driving, "standard", resolution=128)
    # The model's size itself needs no render graph.
    same = tpsmm.animate(backend, source, driving, "standard", resolution="model")
    np.testing.assert_array_equal(same, frames)
    shutil.rmtree(old)


def test_streaming_pipeline_renders_on_onnxruntime(tiny_export, tiny_onnx_model, tmp_path):
    """The same VideoAnimator at a resolution (fit, side by side) on both backends: uint8
    frames one level apart at most where rounding falls differently."""
    from PIL import Image

    folder, _ = tiny_export
    backend = tpsmm.load_onnx(folder, device="cpu")
    video = tmp_path / "driving"
    video.mkdir()
    for index, frame in enumerate(_images(4, 9, 96)):
        Image.fromarray(frame[:, :80]).save(video / f"{index:03d}.png")
    source = _images(1, 10, 150, 120)[0]
    outputs = {}
    for name, model in (("torch", tiny_onnx_model), ("onnxruntime", backend)):
        animator = tpsmm.VideoAnimator(model, source, fit="pad", batch_size=2, resolution=100)
        outputs[name] = np.concatenate(list(animator.stream(video, side_by_side=True)))
    assert outputs["torch"].shape == (4, 100, 300, 3)
    difference = np.abs(outputs["torch"].astype(int) - outputs["onnxruntime"].astype(int))
    assert difference.max() <= 1 and difference.mean() < 0.01, (difference.max(), difference.mean())
