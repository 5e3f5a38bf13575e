"""Video reconstruction: per-frame L1 of the model's frames, report and strips, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tiny_model import tiny_config, tiny_model
from tpsmm import cli
from tpsmm.checkpoint import save_checkpoint
from tpsmm.data import build_dataset
from tpsmm.errors import DatasetError
from tpsmm.evaluation import reconstruct
from tpsmm.model import TPSMM

SIZE, FRAMES = 32, 5
#: Relative tolerance between two float32 computations of a reconstruction L1 that batch
#: the frames differently (convolution kernels and reduction order change with the
#: batch). Measured on the Xeon of 2026-12-06: float32 is up to 3e-6 relative from
#: float64 here (AVX-512, AVX2 and PyTorch's default kernels), and batch 1 against batch
#: 16 up to 5.4e-6 apart with the default kernels. Mixing up frames or sources moves an L1
#: by percents.
L1_RTOL = 1e-4


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _write_video(folder: Path, seed: int) -> None:
    """PNG frames of a bright square moving over a random colour."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    base = rng.integers(0, 200, 3)
    for t in range(FRAMES):
        frame = np.empty((SIZE, SIZE, 3), dtype=np.uint8)
        frame[:] = base
        frame[4 + 3 * t : 12 + 3 * t, 6:14] = 250
        Image.fromarray(frame).save(folder / f"{t}.png")


def _config(root: Path | None, *, bg: bool = True, size: int = SIZE):
    """The tiny model's config (tests/tiny_model.py) at ``size`` (also used by
    test_reconstruct_metrics)."""
    return tiny_config(frame_size=size, bg=bg, root=root)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("eval")
    for i in range(3):
        _write_video(folder / "test" / f"clip{i}", seed=i)
    _write_video(folder / "train" / "clip9", seed=9)
    return folder


@pytest.fixture(scope="module")
def model() -> TPSMM:
    return tiny_model(_config(None))


def _expected_l1(model: TPSMM, video: torch.Tensor) -> list[float]:
    """Frame by frame, with the plain model API."""
    frames = video.permute(1, 0, 2, 3)
    source = frames[:1]
    values = []
    with torch.no_grad():
        kp_source = model.keypoints(source)
        for t in range(frames.shape[0]):
            driving = frames[t : t + 1]
            bg = model.background(source, driving) if model.bg_predictor is not None else None
            prediction = model.generate(source, kp_source, model.keypoints(driving), bg)
            values.append(float((prediction - driving).abs().mean()))
    return values


def test_report_matches_frame_by_frame_l1(model, root, tmp_path):
    dataset = build_dataset({"root_dir": str(root)}, is_train=False)
    report = reconstruct(model, dataset, tmp_path, batch_size=2, progress=False, checkpoint="m.pth")
    assert report == json.loads((tmp_path / "report.json").read_text())
    assert report["config"] == "tiny" and report["checkpoint"] == "m.pth"
    assert report["num_videos"] == 3 and report["num_frames"] == 3 * FRAMES
    assert report["background_predictor"] is True
    all_frames = []
    for entry in report["videos"]:
        item = next(dataset[i] for i in range(len(dataset)) if dataset[i]["name"] == entry["name"])
        expected = _expected_l1(model, item["video"])
        all_frames += expected
        assert entry["frames"] == FRAMES
        assert entry["l1"] == pytest.approx(np.mean(expected), rel=L1_RTOL)
        strip = np.asarray(Image.open(tmp_path / entry["image"]))
        assert strip.shape == (2 * SIZE, FRAMES * SIZE, 3)
        # Top row: the driving frames themselves.
        video = item["video"].permute(1, 2, 3, 0).numpy()
        top = np.concatenate(list(np.round(video * 255).astype(np.uint8)), axis=1)
        np.testing.assert_array_equal(strip[:SIZE], top)
    assert report["mean_l1"] == pytest.approx(np.mean(all_frames), rel=L1_RTOL)
    assert report["video_mean_l1"] == pytest.approx(
        np.mean([v["l1"] for v in report["videos"]]), abs=1e-9
    )


def test_batch_size_and_max_videos(model, root, tmp_path):
    dataset = build_dataset({"root_dir": str(root)}, is_train=False)
    one = reconstruct(model, dataset, tmp_path / "a", 1, max_videos=2, progress=False)
    many = reconstruct(model, dataset, tmp_path / "b", 16, max_videos=2, workers=1, progress=False)
    assert one["num_videos"] == many["num_videos"] == 2
    for a, b in zip(one["videos"], many["videos"], strict=True):
        assert a["l1"] == pytest.approx(b["l1"], rel=L1_RTOL)


def test_model_without_background_predictor(root, tmp_path):
    torch.manual_seed(0)
    model = tiny_model(_config(None, bg=False))
    dataset = build_dataset({"root_dir": str(root)}, is_train=False)
    report = reconstruct(model, dataset, tmp_path, save_images=False, progress=False)
    assert report["background_predictor"] is False and not (tmp_path / "png").exists()
    video = dataset[0]["video"]
    assert report["videos"][0]["l1"] == pytest.approx(
        np.mean(_expected_l1(model, video)), rel=L1_RTOL
    )


def test_empty_selection_is_an_error(model, root, tmp_path):
    dataset = build_dataset({"root_dir": str(root)}, is_train=False)
    with pytest.raises(DatasetError):
        reconstruct(model, dataset, tmp_path, max_videos=0, progress=False)


# ----------------------------------------------------------------------------- CLI


def run_cli(argv: list[str]) -> int:
    """``tpsmm ARGV`` in this process; returns the exit status."""
    return cli.main(argv)


def test_cli_reconstruct(model, root, tmp_path, capsys):
    model.avd_available = False
    checkpoint = save_checkpoint(tmp_path / "model.pth.tar", model)
    out = tmp_path / "eval"
    status = run_cli(
        ["reconstruct", "--checkpoint", str(checkpoint), "--data", str(root), "--out", str(out),
         "--max-videos", "2", "--device", "cpu"])  # fmt: skip
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    assert report["num_videos"] == 2 and report["checkpoint"] == str(checkpoint)
    assert f"{report['mean_l1']:.6f}" in capsys.readouterr().out


def test_cli_reconstruct_errors_are_one_line(model, root, tmp_path, capsys):
    model.avd_available = False
    checkpoint = save_checkpoint(tmp_path / "model.pth.tar", model)
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in (
        ["--checkpoint", str(checkpoint), "--data", str(empty)],
        ["--checkpoint", str(tmp_path / "missing.pth"), "--data", str(root)],
    ):
        status = run_cli(["reconstruct", *argv, "--out", str(tmp_path / "o")])
        err = capsys.readouterr().err
        assert status == 2
        assert err.startswith("tpsmm reconstruct: error:") and err.count("\n") == 1


def test_evaluation_does_not_import_training():
    """Evaluation stands on the model and the data alone (importing the trainer would pull
    in optimisers, the loop and its dependencies)."""
    import subprocess
    import sys

    code = (
        "import sys, tpsmm.evaluation, tpsmm.cli.reconstruct; "
        "print(sorted(m for m in sys.modules if m.startswith('tpsmm.training')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
