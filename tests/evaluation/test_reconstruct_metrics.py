"""``tpsmm reconstruct --metrics``: the four metrics of the reconstructions in one run."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_reconstruct import _config

from tiny_model import tiny_model
from tpsmm import cli
from tpsmm.checkpoint import save_checkpoint
from tpsmm.media import fit_frames, read_video

ASSETS = Path(__file__).resolve().parents[2] / "src" / "tpsmm" / "assets"
SIZE, FRAMES = 128, 3
pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("dlib") is None, reason="needs the eval extra (dlib-bin)"
)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.pth.tar"
    return save_checkpoint(path, tiny_model(_config(None, size=SIZE)))


def test_reconstruct_with_metrics(tmp_path, checkpoint, capsys):
    folder = tmp_path / "data" / "test" / "sample"
    folder.mkdir(parents=True)
    frames = fit_frames(read_video(ASSETS / "driving.mp4", max_frames=FRAMES), SIZE)
    for index, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{index}.png")
    out = tmp_path / "out"
    args = ["reconstruct", "--checkpoint", checkpoint, "--data", tmp_path / "data"]
    status = cli.main([str(a) for a in [*args, "--out", out, "--metrics", "--no-images"]])
    printed = capsys.readouterr().out
    assert status == 0
    report = json.loads((out / "report.json").read_text())
    metrics = report["metrics"]
    assert metrics["kind"] == "face" and metrics["metrics"] == ["l1", "akd", "mkr", "aed"]
    video, overall = metrics["videos"]["sample"], metrics["overall"]
    assert overall["frames"] == video["frames"] == FRAMES and overall["videos"] == 1
    # the same L1 as the reconstruction's own, up to float32 rounding of the mean
    assert overall["l1"] == pytest.approx(report["mean_l1"], abs=1e-6)
    # the driving frames have their faces; a random model's frames need not
    assert video["reference_missing_frames"] == 0 and video["reference_keypoints"] == 68 * FRAMES
    found = FRAMES - video["generated_missing_frames"]
    assert video["mkr"] == pytest.approx(1 - found / FRAMES)
    assert (video["akd"] is None) == (found == 0)
    assert "overall" in printed and f"L1 {report['mean_l1']:.6f}" in printed
    assert np.isfinite(overall["l1"])
