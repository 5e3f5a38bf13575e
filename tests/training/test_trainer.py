"""The generator training loop on a tiny dataset and model (one torch thread)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from trainer_helpers import make_dataset, one_thread, random_vgg, tiny_training_config

import tpsmm
from tpsmm.checkpoint import read_checkpoint
from tpsmm.errors import CheckpointError, ConfigError, DatasetError
from tpsmm.training import checkpointing
from tpsmm.training.distributed import DistContext
from tpsmm.training.generator import GeneratorTrainer, train_generator
from tpsmm.training.loop import RunOptions, TrainingDiverged
from tpsmm.training.objective import GeneratorObjective


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("videos"))


@pytest.fixture(scope="module")
def short_run(data_root, tmp_path_factory):
    """Two epochs of two steps (4 videos x 1 repeat / batch 2), background from epoch 1."""
    out = tmp_path_factory.mktemp("run")
    config = tiny_training_config(data_root, train_params__num_repeats=1)
    summary = train_generator(config, RunOptions(out, progress=False), vgg=random_vgg())
    return out, summary, config


def test_short_run_finishes_and_writes_the_run_folder(short_run):
    out, summary, _ = short_run
    assert summary.finished and summary.global_step == 4 and summary.epoch == 2
    assert summary.checkpoint == out / "checkpoint.pth.tar"
    assert (out / "config.yaml").exists()
    # checkpoint_freq 1: a copy after each epoch.
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        "00000001.pth.tar",
        "00000002.pth.tar",
    ]
    for epoch in (0, 1):
        image = np.asarray(Image.open(out / "vis" / f"epoch_{epoch:04d}.png"))
        # Rows: source, driving, deformed, 4 occlusion masks, prediction; 2 samples.
        assert image.shape == (8 * 32, 2 * 32, 3)


def test_checkpoint_has_the_authors_layout_and_loads(short_run):
    out, _, config = short_run
    raw = torch.load(out / "checkpoint.pth.tar", map_location="cpu", weights_only=True)
    for key in ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor"):
        assert isinstance(raw[key], dict) and raw[key]
    assert "avd_network" not in raw  # not trained by this stage
    assert raw["epoch"] == 1  # the last completed epoch, as the authors store it
    assert {"optimizer", "optimizer_bg_predictor"} <= raw.keys()
    state = raw["tpsmm_training"]
    assert state["stage"] == "generator"
    assert (state["epoch"], state["step_in_epoch"], state["global_step"]) == (2, 0, 4)

    model = tpsmm.load_model(out / "checkpoint.pth.tar")
    assert model.config.common.num_tps == 2 and not model.avd_available
    assert model.config.train_params.num_repeats == config.train_params.num_repeats
    with torch.no_grad():
        frame = torch.rand(1, 3, 32, 32)
        kp = model.keypoints(frame)
        assert model.generate(frame, kp, kp).shape == (1, 3, 32, 32)


def test_learning_rate_schedule_and_background_optimizer(short_run):
    out, _, _ = short_run
    raw = read_checkpoint(out / "checkpoint.pth.tar")
    # Milestone [1]: lr x0.1 after epoch 0, and the log shows it.
    assert raw["optimizer"]["param_groups"][0]["lr"] == pytest.approx(2e-5)
    assert raw["optimizer_bg_predictor"]["param_groups"][0]["lr"] == pytest.approx(2e-5)
    # The background optimizer stepped in epoch 1 only (bg_start 1): 2 steps.
    bg_state = raw["optimizer_bg_predictor"]["state"]
    assert bg_state and all(int(s["step"]) == 2 for s in bg_state.values())
    main_state = raw["optimizer"]["state"]
    assert all(int(s["step"]) == 4 for s in main_state.values())
    with (out / "log.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert [int(r["epoch"]) for r in rows] == [0, 0, 1, 1]
    assert [float(r["lr"]) for r in rows] == pytest.approx([2e-4, 2e-4, 2e-5, 2e-5])
    assert rows[0]["bg"] == "" and float(rows[-1]["bg"]) >= 0
    for row in rows:
        terms = ("perceptual", "equivariance_value", "warp_loss", "bg")
        total = sum(float(row[t]) for t in terms if row[t])
        assert float(row["total"]) == pytest.approx(total, rel=1e-4)


def test_existing_run_is_not_overwritten(short_run, data_root):
    out, _, config = short_run
    with pytest.raises(CheckpointError, match="already holds a run"):
        train_generator(config, RunOptions(out, progress=False), vgg=random_vgg())


def test_fine_tuning_starts_from_the_checkpoint(short_run, data_root, tmp_path):
    out, _, config = short_run
    raw = read_checkpoint(out / "checkpoint.pth.tar")
    trainer = GeneratorTrainer(
        config,
        RunOptions(tmp_path / "tune", progress=False),
        DistContext(),
        vgg=random_vgg(),
        init_checkpoint=raw,
    )
    assert trainer.progress.epoch == 0 and trainer.progress.global_step == 0
    for name, value in raw["kp_detector"].items():
        torch.testing.assert_close(trainer.model.kp_detector.state_dict()[name], value)
    assert not trainer.optimizers["optimizer"].state  # fresh optimizer


def test_loss_falls_over_20_steps(data_root, tmp_path):
    config = tiny_training_config(
        data_root,
        train_params__num_epochs=1,
        train_params__num_repeats=10,
        train_params__bg_start=0,
    )
    torch.manual_seed(0)
    summary = train_generator(
        config, RunOptions(tmp_path / "run", max_steps=20, progress=False), vgg=random_vgg()
    )
    totals = [sum(step.values()) for step in summary.losses]
    assert len(totals) == 20 and all(math.isfinite(t) for t in totals)
    assert np.mean(totals[-5:]) < np.mean(totals[:5])


def test_nan_loss_stops_and_keeps_the_last_checkpoint(data_root, tmp_path, monkeypatch):
    """One-step epochs; the loss of step 3 (epoch 2) is NaN."""
    config = tiny_training_config(
        data_root,
        train_params__num_epochs=5,
        train_params__num_repeats=1,
        train_params__batch_size=4,
    )
    out = tmp_path / "run"
    forward = GeneratorObjective.forward
    calls = {"n": 0}

    def poisoned(self, *args, **kwargs):
        losses, generated = forward(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:
            losses["warp_loss"] = losses["warp_loss"] * float("nan")
        return losses, generated

    monkeypatch.setattr(GeneratorObjective, "forward", poisoned)
    with pytest.raises(TrainingDiverged) as caught:
        train_generator(config, RunOptions(out, progress=False), vgg=random_vgg())
    message = str(caught.value)
    assert "\n" not in message
    assert "epoch 2, step 3" in message and "warp_loss=nan" in message
    assert str(out / "checkpoint.pth.tar") in message
    raw = read_checkpoint(out / "checkpoint.pth.tar")
    assert raw["tpsmm_training"]["global_step"] == 2  # after epoch 1, not the broken state
    for network in ("kp_detector", "inpainting_network"):
        assert all(torch.isfinite(v).all() for v in raw[network].values() if v.is_floating_point())


def test_non_finite_weights_are_never_saved(data_root, tmp_path, monkeypatch):
    config = tiny_training_config(
        data_root, train_params__num_repeats=1, train_params__batch_size=4
    )
    monkeypatch.setattr(checkpointing, "weights_finite", lambda model: False)
    with pytest.raises(TrainingDiverged, match="weights are not finite"):
        train_generator(config, RunOptions(tmp_path / "run", progress=False), vgg=random_vgg())
    assert not (tmp_path / "run" / "checkpoint.pth.tar").exists()


def test_bad_datasets_and_options_fail_before_training(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    options = RunOptions(tmp_path / "run", progress=False)
    with pytest.raises(DatasetError, match="no videos"):
        train_generator(tiny_training_config(empty), options, vgg=random_vgg())
    with pytest.raises(ConfigError, match="--data"):
        train_generator(tiny_training_config(None), options, vgg=random_vgg())
    root = make_dataset(tmp_path / "few", train=2, test=1)
    with pytest.raises(DatasetError, match="fewer than one batch"):
        train_generator(
            tiny_training_config(root, train_params__num_repeats=1, train_params__batch_size=4),
            options,
            vgg=random_vgg(),
        )
    with pytest.raises(ConfigError, match="fp16 needs CUDA"):
        train_generator(
            tiny_training_config(root),
            RunOptions(tmp_path / "run", precision="fp16", device="cpu"),
            vgg=random_vgg(),
        )
    with pytest.raises(ConfigError):
        RunOptions(tmp_path, precision="fp8")


def test_unreadable_frame_is_a_one_line_dataset_error(tmp_path):
    root = make_dataset(tmp_path / "data")
    for frame in (root / "train" / "video0").iterdir():
        frame.write_bytes(b"not a png")
    config = tiny_training_config(root, train_params__num_repeats=1, train_params__batch_size=4)
    with pytest.raises(DatasetError) as caught:
        train_generator(config, RunOptions(tmp_path / "run", progress=False), vgg=random_vgg())
    assert "video0" in str(caught.value) and "\n" not in str(caught.value)


def test_bf16_autocast_on_cpu_runs(data_root, tmp_path):
    config = tiny_training_config(data_root, train_params__num_repeats=1)
    summary = train_generator(
        config,
        RunOptions(tmp_path / "run", max_steps=1, precision="bf16", progress=False),
        vgg=random_vgg(),
    )
    assert summary.global_step == 1 and math.isfinite(sum(summary.losses[0].values()))
