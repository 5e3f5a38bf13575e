"""A damaged or foreign export folder ends in one line naming the folder and the file,
exit status 2, before any frame: a missing, truncated or altered weights.bin, another
export's weights, manifest or graph (the manifest records each file's size and SHA-256);
a graph onnxruntime cannot load. Also: the onnxruntime animator checks its frames as
tpsmm.Animator does, and `tpsmm export --out` naming a file says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import tpsmm
from tiny_model import tiny_model
from tpsmm.errors import TPSMMError
from tpsmm.export import OnnxModel

ASSETS = Path(tpsmm.__file__).parent / "assets"


@pytest.fixture(scope="module")
def other_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export of another model: the tiny model without a background predictor, its
    standard mode only (weights of another size)."""
    folder = tmp_path_factory.mktemp("other") / "other-onnx"
    tpsmm.export_onnx(tiny_model(), folder, modes=["standard"])
    return folder


def damaged(kind: str, good: Path, other: Path, folder: Path) -> tuple[Path, str]:
    """A copy of ``good`` damaged as ``kind``; the file the message must name."""
    copy = folder / kind.replace(" ", "-")
    shutil.copytree(good, copy)
    weights = copy / "weights.bin"
    if kind == "no weights":
        weights.unlink()
        return copy, "weights.bin is missing"
    if kind == "truncated weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
        return copy, "weights.bin is"
    if kind == "altered weights":  # as another model's of the same size
        content = bytearray(weights.read_bytes())
        content[len(content) // 2] ^= 0xFF
        weights.write_bytes(bytes(content))
        return copy, "weights.bin does not match manifest.json"
    if kind == "other weights":
        shutil.copy(other / "weights.bin", weights)
        return copy, "weights.bin is"
    if kind == "other manifest":
        shutil.copy(other / "manifest.json", copy / "manifest.json")
        return copy, "does not match manifest.json"
    if kind == "other graph":
        shutil.copy(other / "source.onnx", copy / "source.onnx")
        return copy, "source.onnx does not match manifest.json"
    raise AssertionError(kind)


KINDS = [
    "no weights",
    "truncated weights",
    "altered weights",
    "other weights",
    "other manifest",
    "other graph",
]


@pytest.mark.parametrize("kind", KINDS)
def test_damaged_or_foreign_export_is_refused_in_one_line(
    run_cli, tiny_export, other_export, tmp_path, kind
):
    folder, message = damaged(kind, tiny_export[0], other_export, tmp_path)
    with pytest.raises(TPSMMError, match=message):
        OnnxModel(folder)
    out = tmp_path / "out.mp4"
    result = run_cli(
        "animate", "--onnx", folder, "--source", ASSETS / "source.png", "--driving",
        ASSETS / "driving.mp4", "--max-frames", 2, "--output", out, "-q",
    )  # fmt: skip
    assert result.status == 2, result.err
    [line] = result.error_lines
    assert line.startswith(f"tpsmm animate: error: {folder}: ") and message in line, line
    assert "export again" in line
    assert not out.exists()


def test_exports_made_before_the_digests_are_checked_by_size(tiny_export, tmp_path):
    """A manifest without SHA-256s (older exports) still loads; a weights file of
    another size is still refused, and a graph onnxruntime cannot load is named."""
    folder = tmp_path / "legacy"
    shutil.copytree(tiny_export[0], folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["weights"]["sha256"]
    for graph in manifest["graphs"].values():
        del graph["sha256"]
    manifest["written_by_a_later_tpsmm"] = True  # unknown keys are ignored
    (folder / "manifest.json").write_text(json.dumps(manifest))
    model = OnnxModel(folder, device="cpu")
    assert model.animator(np.zeros((64, 64, 3), np.uint8)).animate(np.zeros((1, 64, 64, 3), np.uint8)).shape == (1, 64, 64, 3)  # fmt: skip
    source = folder / "source.onnx"
    source.write_bytes(source.read_bytes()[:100])
    with pytest.raises(TPSMMError, match=f"{source}: onnxruntime cannot load this graph"):
        OnnxModel(folder, device="cpu").animator(np.zeros((64, 64, 3), np.uint8))
    weights = folder / "weights.bin"
    weights.write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(TPSMMError, match=r"weights.bin is [\d,]+ bytes but manifest.json records"):
        OnnxModel(folder)


def test_onnxruntime_animator_checks_its_frames(tiny_export):
    model = OnnxModel(tiny_export[0], device="cpu")
    with pytest.raises(TPSMMError, match="source is 80x80 but the model takes 64x64"):
        model.animator(np.zeros((80, 80, 3), np.uint8))
    animator = model.animator(np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(
        TPSMMError, match=r"driving is float32 from 255 to 255; float frames must be in \[0, 1\]"
    ):
        animator.animate(np.full((1, 64, 64, 3), 255, np.float32))
    with pytest.raises(TPSMMError, match="driving is None"):
        tpsmm.animate(model, np.zeros((64, 64, 3), np.uint8), None)


def test_export_out_naming_a_file_says_so(run_cli, tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("a file")
    result = run_cli("export", "--checkpoint", "demo", "--out", plain, "-q")
    assert result.status == 2
    assert result.error_lines == [
        f"tpsmm export: error: {plain}: is a file; give a new or empty folder for the export"
    ]
