"""``tpsmm export`` and ``tpsmm animate --backend onnxruntime`` (audio, pairs, errors)."""

from __future__ import annotations

import os
import shutil
import stat

import numpy as np
import pytest
from cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE

import tpsmm
import tpsmm.cli
from tpsmm.export import requirements
from tpsmm.media import VideoReader

pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def standard_export(tmp_path_factory, tiny_checkpoint):
    """The tiny checkpoint exported by the command, standard mode only."""
    folder = tmp_path_factory.mktemp("cli-onnx") / "tiny-onnx"
    status = tpsmm.cli.main(
        ["export", "--checkpoint", str(tiny_checkpoint), "--format", "onnx", "--out",
         str(folder), "--modes", "standard", "--quiet"]
    )  # fmt: skip
    assert status == 0
    return folder


def test_export_writes_the_named_graphs(standard_export, tiny_checkpoint):
    manifest = tpsmm.export.Manifest.read(standard_export)
    # tiny has no background; render: frames above the model's size (--resolution)
    assert set(manifest.graphs) == {"source", "frames_standard", "render"}
    assert manifest.checkpoint["file"] == tiny_checkpoint.name


def test_animate_with_onnxruntime_keeps_audio(run_cli, standard_export, tiny_model, tmp_path):
    output = tmp_path / "out.mp4"
    result = run_cli(
        "animate", "--onnx", standard_export, "--source", SAMPLE_SOURCE, "--driving",
        SAMPLE_DRIVING, "--output", output, "--mode", "standard", "--max-frames", 4,
    )  # fmt: skip
    assert result.status == 0, result.err
    assert "4 frames, 64x64" in result.out and "with audio" in result.out
    folder = tmp_path / "frames"
    torch_folder = tmp_path / "torch-frames"
    common = ["--source", SAMPLE_SOURCE, "--driving", SAMPLE_DRIVING, "--mode", "standard",
              "--max-frames", 3, "--side-by-side", "--quiet"]  # fmt: skip
    assert run_cli("animate", "--backend", "onnxruntime", "--onnx", standard_export,
                   "--output", folder, *common).status == 0  # fmt: skip
    tpsmm.animate_video(
        tiny_model, SAMPLE_SOURCE, SAMPLE_DRIVING, torch_folder, mode="standard",
        max_frames=3, side_by_side=True,
    )  # fmt: skip
    with VideoReader(folder) as ours, VideoReader(torch_folder) as theirs:
        a, b = np.stack(list(ours)), np.stack(list(theirs))
    assert a.shape == (3, 64, 192, 3)
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_pairs_with_onnxruntime(run_cli, standard_export, tmp_path):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    shutil.copy(SAMPLE_SOURCE, inputs / "face.png")
    shutil.copy(SAMPLE_DRIVING, inputs / "talk.mp4")
    csv = inputs / "pairs.csv"
    csv.write_text("face.png,talk.mp4,a.mp4\nface.png,talk.mp4,b.gif,relative\n")
    result = run_cli(
        "animate", "--pairs", csv, "--out-dir", tmp_path / "out", "--onnx", standard_export,
        "--mode", "standard", "--max-frames", 2,
    )  # fmt: skip
    assert result.status == 1  # the relative row: this export has standard mode only
    assert (tmp_path / "out" / "a.mp4").is_file()
    assert "no relative mode" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--backend", "onnxruntime"], "needs --onnx DIR"),
        (["--backend", "torch", "--onnx", "DIR"], "--onnx goes with --backend onnxruntime"),
        (["--onnx", "DIR", "--dtype", "bfloat16"], "drop --dtype"),
        (["--onnx", "DIR", "--config", "vox-256"], "drop --checkpoint/--config"),
        (["--onnx", "{empty}"], "no manifest.json"),
        (["--onnx", "{export}", "--mode", "avd"], "no avd mode"),
        (["--onnx", "{export}", "--mode", "standard", "--background"], "background predictor"),
    ],
)
def test_backend_errors_are_one_line(run_cli, standard_export, tmp_path, extra, message):
    extra = [str(arg).format(empty=tmp_path, export=standard_export) for arg in extra]
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", SAMPLE_DRIVING,
        "--output", tmp_path / "o.mp4", *extra,
    )  # fmt: skip
    assert result.status == 2
    assert len(result.error_lines) == 1 and message in result.err, result.err
    assert not (tmp_path / "o.mp4").exists()


def test_missing_extra_is_one_line(run_cli, monkeypatch, tiny_checkpoint, tmp_path):
    real = requirements.importlib.import_module

    def without_onnx(name, *args):
        if name.startswith("onnx"):
            raise ImportError(name)
        return real(name, *args)

    monkeypatch.setattr(requirements.importlib, "import_module", without_onnx)
    result = run_cli("export", "--checkpoint", tiny_checkpoint, "--out", tmp_path / "x")
    assert result.status == 2
    assert result.error_lines == [
        "tpsmm export: error: tpsmm export needs the onnx package: pip install 'tpsmm[onnx]'"
    ]
    result = run_cli(
        "animate", "--onnx", tmp_path, "--source", SAMPLE_SOURCE, "--driving", SAMPLE_DRIVING,
        "--output", tmp_path / "o.mp4",
    )  # fmt: skip
    assert result.error_lines == [
        "tpsmm animate: error: --backend onnxruntime needs the onnxruntime package: "
        "pip install 'tpsmm[onnx]'"
    ]


def test_keypoint_features_need_the_torch_backend(
    run_cli, standard_export, tiny_checkpoint, tmp_path
):
    """The frames graphs take driving frames: a motion file and --motion-scale (driving
    keypoints) are refused in one line, before any output exists."""
    motion = tmp_path / "talk.npz"
    made = run_cli("motion", "--driving", SAMPLE_DRIVING, "--checkpoint", tiny_checkpoint,
                   "--out", motion, "--max-frames", 2)  # fmt: skip
    assert made.status == 0, made.err
    for driving, extra in ((motion, []), (SAMPLE_DRIVING, ["--motion-scale", "1.5"])):
        result = run_cli(
            "animate", "--onnx", standard_export, "--source", SAMPLE_SOURCE, "--driving",
            driving, "--output", tmp_path / "o.mp4", "--mode", "standard", *extra,
        )  # fmt: skip
        assert result.status == 2
        assert len(result.error_lines) == 1 and "needs the torch backend" in result.err
        assert not (tmp_path / "o.mp4").exists()


def test_export_to_an_unwritable_place_is_one_line_before_the_work(
    run_cli, tiny_checkpoint, tmp_path
):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = run_cli("export", "--checkpoint", tiny_checkpoint, "--out", blocker / "onnx")
    assert result.status == 2
    assert result.error_lines == [
        f"tpsmm export: error: {blocker / 'onnx'}: {blocker} is a file, not a folder"
    ]


def test_export_folder_gets_the_usual_mode(tmp_path, tiny_model):
    """Made with the umask's mode (0755 under umask 022), not mkdtemp's 0700."""
    previous = os.umask(0o022)
    try:
        tpsmm.export_onnx(tiny_model, tmp_path / "onnx", modes=["standard"], check=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "onnx").stat().st_mode) == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["onnx"]
