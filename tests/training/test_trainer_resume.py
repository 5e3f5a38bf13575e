"""An interrupted and resumed run gives the weights of an uninterrupted one."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch
from trainer_helpers import make_dataset, one_thread, random_vgg, tiny_training_config

from tpsmm.checkpoint import read_checkpoint, save_checkpoint
from tpsmm.errors import CheckpointError, ConfigError
from tpsmm.model import TPSMM
from tpsmm.training.generator import train_generator
from tpsmm.training.loop import RunOptions
from tpsmm.training.run_files import load_resume

NETWORKS = ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


def _config(root: Path):
    """Two epochs of two steps; TPS dropout in epoch 0 (per-rank generator), background
    and lr x0.1 from epoch 1, augmentation (flips) on."""
    return tiny_training_config(root, train_params__num_repeats=1, train_params__num_epochs=2)


def _log_rows(run: Path) -> list[dict[str, str]]:
    with (run / "log.csv").open() as handle:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(handle)]


def _assert_same_state(a: dict, b: dict, path: str = "") -> None:
    """Equal nested checkpoint contents (tensors exactly)."""
    assert type(a) is type(b), path
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            _assert_same_state(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_state(x, y, f"{path}[{i}]")
    elif isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=path)
    else:
        assert a == b, path


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return make_dataset(tmp_path_factory.mktemp("videos"))


def test_interrupted_then_resumed_equals_uninterrupted(root, tmp_path):
    whole, parts = tmp_path / "whole", tmp_path / "parts"
    train_generator(_config(root), RunOptions(whole, seed=5, progress=False), vgg=random_vgg())

    # Stop in the middle of epoch 0, resume (with a DataLoader worker this time) past the
    # epoch boundary into the middle of epoch 1, then resume to the end. The resumed runs
    # are not told the seed: they keep the one the run started with.
    first = train_generator(
        _config(root), RunOptions(parts, seed=5, max_steps=1, progress=False), vgg=random_vgg()
    )
    assert (first.epoch, first.step_in_epoch, first.global_step) == (0, 1, 1)
    stored = load_resume(parts, "generator")[1]
    second = train_generator(
        stored,
        RunOptions(parts, max_steps=3, workers=1, progress=False),
        vgg=random_vgg(),
        resume=parts,
    )
    assert (second.epoch, second.step_in_epoch, second.global_step) == (1, 1, 3)
    last = train_generator(
        stored,
        RunOptions(parts, progress=False),
        vgg=random_vgg(),
        resume=parts / "checkpoint.pth.tar",
    )
    assert last.finished and last.global_step == 4

    a = read_checkpoint(whole / "checkpoint.pth.tar")
    b = read_checkpoint(parts / "checkpoint.pth.tar")
    for network in NETWORKS:
        for key, value in a[network].items():
            torch.testing.assert_close(b[network][key], value, rtol=0, atol=0, msg=key)
    for entry in ("optimizer", "optimizer_bg_predictor", "epoch"):
        _assert_same_state(a[entry], b[entry], entry)
    state_a, state_b = a["tpsmm_training"], b["tpsmm_training"]
    for entry in ("epoch", "step_in_epoch", "global_step", "schedulers", "rng"):
        _assert_same_state(state_a[entry], state_b[entry], entry)
    assert _log_rows(whole) == _log_rows(parts)


def test_resume_drops_log_rows_after_the_checkpoint(root, tmp_path):
    run = tmp_path / "run"
    train_generator(_config(root), RunOptions(run, max_steps=1, progress=False), vgg=random_vgg())
    with (run / "log.csv").open("a") as handle:  # a step logged, then lost in a crash
        handle.write("0,2,9,9,9,,27,0.0002,1.0\n")
    train_generator(
        load_resume(run, "generator")[1],
        RunOptions(run, max_steps=2, progress=False),
        vgg=random_vgg(),
        resume=run,
    )
    assert [row["step"] for row in _log_rows(run)] == ["1", "2"]
    assert _log_rows(run)[1]["perceptual"] != "9"


def test_resume_refuses_foreign_checkpoints(root, tmp_path):
    config = _config(root)
    with pytest.raises(CheckpointError, match="does not exist"):
        train_generator(config, RunOptions(tmp_path / "x"), resume=tmp_path / "missing")
    exported = save_checkpoint(tmp_path / "authors.pth.tar", TPSMM(config))
    with pytest.raises(CheckpointError, match="no tpsmm training state"):
        load_resume(exported, "generator")
    run = tmp_path / "run"
    train_generator(config, RunOptions(run, max_steps=1, progress=False), vgg=random_vgg())
    with pytest.raises(CheckpointError, match="'generator' run, not 'avd'"):
        load_resume(run, "avd")
    # Nor can another seed (every random stream of the run derives from it).
    with pytest.raises(ConfigError, match="started with seed 0, not 7"):
        train_generator(
            load_resume(run, "generator")[1],
            RunOptions(run, seed=7, progress=False),
            vgg=random_vgg(),
            resume=run,
        )
    # A different batch size cannot continue a half-done epoch.
    changed = load_resume(run, "generator")[1].replace(**{"train_params.batch_size": 4})
    with pytest.raises(ConfigError, match="batch_size 2"):
        train_generator(changed, RunOptions(run, progress=False), vgg=random_vgg(), resume=run)
