"""AVD training: only the AVD network learns; the keypoint detector's BatchNorm
statistics stay as they were (eval mode), and the result loads with avd available."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from trainer_helpers import make_dataset, one_thread, tiny_training_config

import tpsmm
from tpsmm.checkpoint import read_checkpoint, save_checkpoint
from tpsmm.errors import ConfigError
from tpsmm.model import TPSMM
from tpsmm.training.avd import AVDObjective, AVDTrainer, random_scale, train_avd
from tpsmm.training.loop import RunOptions
from tpsmm.training.run_files import load_resume


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """A dataset and a generator checkpoint whose keypoint detector has non-default
    BatchNorm statistics (as after training) and no AVD network."""
    folder = tmp_path_factory.mktemp("avd")
    root = make_dataset(folder / "data")
    torch.manual_seed(0)
    model = TPSMM(tiny_training_config(root))
    model.kp_detector.train()
    with torch.no_grad():
        for _ in range(3):
            model.kp_detector(torch.rand(4, 3, 32, 32))
    model.avd_available = False
    return root, save_checkpoint(folder / "model" / "checkpoint.pth.tar", model)


def _config(root: Path, **changes):
    values = {"train_avd_params__num_repeats": 1, "train_avd_params__num_epochs": 2, **changes}
    return tiny_training_config(root, **values)


def test_random_scale_range():
    scales = random_scale(1000, 0.25, torch.Generator().manual_seed(0))
    assert scales.shape == (1000, 2)
    assert 0.75 <= scales.min() < 0.76 and 1.24 < scales.max() <= 1.25


def test_objective_is_the_authors_loss():
    torch.manual_seed(0)
    config = tiny_training_config(None, train_avd_params__lambda_shift=2.0)
    model = TPSMM(config).eval()
    objective = AVDObjective(model, config.train_avd_params)
    source, driving = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    scales = torch.tensor([[0.8, 1.2], [1.1, 0.9]])
    losses, out = objective(source, driving, scales)
    kp_source, kp_driving = model.kp_detector(source), model.kp_detector(driving)
    scaled = torch.stack(
        [kp_driving[..., 0] * scales[:, :1], kp_driving[..., 1] * scales[:, 1:]], -1
    )
    expected = 2.0 * (model.avd_network(kp_source, scaled) - kp_driving).abs().mean()
    torch.testing.assert_close(losses["rec_kp"], expected)
    assert not out["kp_driving"].requires_grad and out["kp_avd"].requires_grad


def test_train_avd_keeps_the_keypoint_detector(trained, tmp_path):
    root, checkpoint = trained
    before = read_checkpoint(checkpoint)
    out = tmp_path / "run"
    summary = train_avd(_config(root), RunOptions(out, progress=False), init_checkpoint=checkpoint)
    assert summary.finished and summary.global_step == 2
    after = read_checkpoint(out / "checkpoint.pth.tar")

    for network in ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor"):
        for key, value in before[network].items():
            torch.testing.assert_close(after[network][key], value, rtol=0, atol=0, msg=key)
    assert any(k.endswith("running_mean") for k in after["kp_detector"])
    assert "avd_network" in after and "optimizer_avd" in after
    assert after["tpsmm_training"]["stage"] == "avd"

    model = tpsmm.load_model(out / "checkpoint.pth.tar")
    assert model.avd_available
    kp = torch.rand(3, 10, 2) * 2 - 1
    assert model.avd(kp[:1], kp).shape == (3, 10, 2)
    with (out / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [row["step"] for row in rows] == ["1", "2"] and float(rows[0]["rec_kp"]) > 0
    assert (out / "vis" / "epoch_0001.png").exists()


def test_avd_takes_frames_only(trained):
    """A generator config that asks for landmarks, pseudo flow and ground-truth motion
    (the demo preset asks for the first two) gives the AVD stage frame pairs only: its
    loss reads nothing else, and the pseudo flow would cost a classical optical flow per
    item."""
    root, _ = trained
    config = _config(
        root,
        dataset_params__landmarks=True,
        dataset_params__pseudo_flow=True,
        dataset_params__ground_truth_motion=True,
    )
    trainer = AVDTrainer.__new__(AVDTrainer)
    trainer.config = config
    params = trainer.dataset_params()
    assert not (params["landmarks"] or params["pseudo_flow"] or params["ground_truth_motion"])
    assert params["root_dir"] == config.dataset_params.root_dir


def test_avd_loss_falls(trained, tmp_path):
    root, checkpoint = trained
    config = _config(root, train_avd_params__num_repeats=20, train_avd_params__num_epochs=1)
    summary = train_avd(
        config, RunOptions(tmp_path / "run", progress=False), init_checkpoint=checkpoint
    )
    losses = [step["rec_kp"] for step in summary.losses]
    assert len(losses) == 20
    assert np.mean(losses[-5:]) < np.mean(losses[:5])


def test_avd_resume_equals_uninterrupted(trained, tmp_path):
    root, checkpoint = trained
    config = _config(root, train_avd_params__num_repeats=2)
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train_avd(config, RunOptions(whole, progress=False), init_checkpoint=checkpoint)
    train_avd(config, RunOptions(parts, max_steps=3, progress=False), init_checkpoint=checkpoint)
    train_avd(load_resume(parts, "avd")[1], RunOptions(parts, progress=False), resume=parts)
    a = read_checkpoint(whole / "checkpoint.pth.tar")["avd_network"]
    b = read_checkpoint(parts / "checkpoint.pth.tar")["avd_network"]
    for key, value in a.items():
        torch.testing.assert_close(b[key], value, rtol=0, atol=0, msg=key)


def test_train_avd_needs_a_checkpoint(trained, tmp_path):
    root, _ = trained
    with pytest.raises(ConfigError, match="--checkpoint"):
        train_avd(_config(root), RunOptions(tmp_path / "run"))
