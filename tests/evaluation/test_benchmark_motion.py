"""`tpsmm benchmark-motion` on a tiny generated set."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from tiny_model import tiny_model
from tpsmm import geometry, save_checkpoint
from tpsmm.cli import main
from tpsmm.data import build_dataset
from tpsmm.evaluation.motion import benchmark_motion, format_table
from tpsmm.synthetic import RenderParams, read_ground_truth, write_dataset

SIZE = 64


@pytest.fixture(scope="module")
def dataset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench") / "set"
    params = RenderParams(frame_size=SIZE, num_frames=5, margin_pixels=8, num_points=8)
    write_dataset(root, 2, seed=3, params=params, test_fraction=1.0, sample_clips=0)
    return root


@pytest.fixture(scope="module")
def model():
    """The tests' tiny seeded model (tests/tiny_model.py) with a background predictor."""
    return tiny_model(bg=True)


def _expected_baselines(root):
    """The no-motion L1 and the identity's EPE, computed from the files directly."""
    l1, frames, epe, pixels = 0.0, 0, 0.0, 0
    identity = geometry.coordinate_grid(SIZE, SIZE, dtype=torch.float64).numpy()
    for video in sorted((root / "test").glob("synth-*[0-9]")):
        images = np.stack(
            [np.asarray(Image.open(p), dtype=np.float64) for p in sorted(video.iterdir())]
        )
        images /= 255
        l1 += float(np.abs(images - images[:1]).mean(axis=(1, 2, 3)).sum())
        frames += len(images)
        truth = read_ground_truth(video)
        length = np.linalg.norm(truth.deformation - identity, axis=-1) * (SIZE - 1) / 2
        epe += float(length[truth.valid].sum())
        pixels += int(truth.valid.sum())
    return l1 / frames, epe / pixels


def test_report_holds_every_video_and_the_baselines(dataset_root, model, tmp_path):
    dataset = build_dataset(
        {"root_dir": str(dataset_root), "frame_shape": [SIZE, SIZE, 3]}, is_train=False
    )
    report = benchmark_motion(model, dataset, tmp_path, batch_size=2, checkpoint="x.pth")
    assert set(report["videos"]) == {"synth-00000", "synth-00001"}
    overall = report["overall"]
    l1_still, epe_identity = _expected_baselines(dataset_root)
    assert overall["l1_no_motion"] == pytest.approx(l1_still, rel=1e-5)
    assert overall["epe_identity"] == pytest.approx(epe_identity, rel=1e-5)
    assert 0 < overall["l1"] < 1 and overall["epe"] > 0
    assert overall["epe_ratio"] == pytest.approx(overall["epe"] / overall["epe_identity"])
    assert overall["frames"] == 10 and overall["videos_with_truth"] == 2
    assert json.loads((tmp_path / "motion.json").read_text()) == report
    grid = Image.open(tmp_path / "motion.png")
    assert grid.size == (5 * SIZE, 14 + 2 * SIZE)
    table = format_table(report)
    assert "synth-00000" in table and "overall" in table and "ratios" in table


def test_the_error_split_by_object_and_background_and_the_camera_baseline(
    dataset_root, model, tmp_path
):
    dataset = build_dataset(
        {"root_dir": str(dataset_root), "frame_shape": [SIZE, SIZE, 3]}, is_train=False
    )
    report = benchmark_motion(model, dataset, tmp_path, batch_size=3, grid_videos=0)
    for video in report["videos"].values():
        on_object, rest = video["object_pixels"], video["valid_pixels"] - video["object_pixels"]
        assert on_object > 0 and rest > 0
        for suffix in ("", "_identity"):  # the two regions make up every valid pixel
            combined = video[f"epe_object{suffix}"] * on_object
            combined += video[f"epe_background{suffix}"] * rest
            assert combined / video["valid_pixels"] == pytest.approx(video[f"epe{suffix}"])
    # The identity matrix's camera error, from the files: every pixel's true camera motion.
    identity = geometry.coordinate_grid(SIZE, SIZE, dtype=torch.float64)
    lengths = []
    for video in sorted((dataset_root / "test").glob("synth-*[0-9]")):
        camera = torch.from_numpy(read_ground_truth(video).camera).double()
        grid = identity.expand(camera.shape[0], -1, -1, -1)
        moved = geometry.apply_projective(camera, grid)
        lengths.append((moved - grid).norm(dim=-1).mean() * (SIZE - 1) / 2)
    overall = report["overall"]
    assert overall["camera_epe_identity"] == pytest.approx(float(sum(lengths) / 2), rel=1e-9)
    assert overall["camera_epe"] > 0 and overall["camera_epe_ratio"] is not None
    assert "background predictor's camera" in format_table(report)


def test_the_cli_prints_the_table(dataset_root, model, tmp_path, capsys):
    checkpoint = save_checkpoint(tmp_path / "tiny.pth.tar", model)
    out = tmp_path / "out"
    status = main(
        ["benchmark-motion", "--checkpoint", str(checkpoint), "--data", str(dataset_root),
         "--out", str(out), "--no-progress"]
    )  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "EPE" in printed and "overall" in printed and str(out / "motion.json") in printed
    assert (out / "motion.png").is_file()
