"""Interrupted training with real signals on a real ``tpsmm train`` / ``train-avd``
process: SIGTERM or SIGINT saves the step reached (atomically), ends with one line and
status 143 or 130, and ``--resume`` continues exactly: the same weights, optimizer
states and per-step losses as a run that was never interrupted (the same data order
and random streams), from the middle of an epoch. ``--checkpoint-minutes`` bounds what
``kill -9`` loses.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from trainer_helpers import make_dataset, tiny_training_config_dict

from tpsmm.checkpoint import read_checkpoint
from tpsmm.files import stale_partials

CLI = [sys.executable, "-c", "import sys, tpsmm.cli as c; sys.exit(c.main(sys.argv[1:]))"]
# One thread: every run sums in the same order, so "exactly" means bit for bit.
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
COMMON = ["--device", "cpu", "--no-progress"]
#: 4 videos x 4 repeats / batch 2 = 8 generator steps per epoch, 2 epochs;
#: AVD: 4 x 4 / batch 4 = 4 steps per epoch, 2 epochs.
STEPS_PER_EPOCH = 8
AVD_STEPS_PER_EPOCH = 4
TIMEOUT = 1200
#: Each test runs three or four training processes one after the other.
pytestmark = pytest.mark.timeout(2 * TIMEOUT)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    """A dataset and the tiny config without the perceptual loss (no VGG to load) or a
    background predictor, checkpoints at the end only (each is 130 MB: the keypoint
    detector is a full ResNet-18, with Adam's two moments)."""
    folder = tmp_path_factory.mktemp("signals")
    root = make_dataset(folder / "data")
    config = tiny_training_config_dict(None, bg=False)
    config["train_params"].update(num_repeats=4, checkpoint_freq=2)
    config["train_params"]["loss_weights"] = {"perceptual": [0, 0, 0, 0, 0]}
    config["train_avd_params"].update(num_repeats=4, checkpoint_freq=2)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return root, path


def train_args(setup: tuple[Path, Path], out: Path) -> list[str]:
    root, config = setup
    return ["train", "--config", str(config), "--data", str(root), "--out", str(out), *COMMON]


def run(args: list[str]) -> subprocess.CompletedProcess:
    done = subprocess.run([*CLI, *args], env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def logged_steps(run_dir: Path) -> int:
    try:
        return max(0, len((run_dir / "log.csv").read_text().splitlines()) - 1)
    except FileNotFoundError:
        return 0


def start_and_signal(
    args: list[str], run_dir: Path, signum: int, after: int, *, group: bool = False
):
    """Start ``tpsmm ARGS``, send ``signum`` once ``after`` steps are logged (to its whole
    process group with ``group``, as a terminal's Ctrl-C or systemd's stop do); returns
    ``(exit status, stderr)``."""
    process = subprocess.Popen(
        [*CLI, *args],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,
    )
    deadline = time.monotonic() + TIMEOUT
    while logged_steps(run_dir) < after and process.poll() is None:
        assert time.monotonic() < deadline, "the run did not get going"
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()[1][-3000:]
    if group:
        os.killpg(process.pid, signum)
    else:
        process.send_signal(signum)
    _, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, err


def losses(run_dir: Path) -> list[dict[str, str]]:
    """The log rows without the timing column."""
    with (run_dir / "log.csv").open() as handle:
        return [{k: v for k, v in row.items() if k != "time"} for row in csv.DictReader(handle)]


def assert_same_run(a: Path, b: Path) -> None:
    """The same networks, optimizer states, progress and per-step losses, bit for bit."""
    first, second = (
        read_checkpoint(a / "checkpoint.pth.tar"),
        read_checkpoint(b / "checkpoint.pth.tar"),
    )
    for network in ("kp_detector", "dense_motion_network", "inpainting_network", "avd_network"):
        if network in first or network in second:
            for key, value in first[network].items():
                torch.testing.assert_close(second[network][key], value, rtol=0, atol=0, msg=key)
    for name in ("optimizer", "optimizer_avd"):
        if name in first:
            for index, state in first[name]["state"].items():
                for key, value in state.items():
                    torch.testing.assert_close(
                        second[name]["state"][index][key], value, rtol=0, atol=0
                    )
    for key in ("epoch", "step_in_epoch", "global_step"):
        assert first["tpsmm_training"][key] == second["tpsmm_training"][key], key
    assert losses(a) == losses(b)


@pytest.fixture(scope="module")
def uninterrupted(setup, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("whole") / "run"
    run(train_args(setup, out))
    return out


def test_sigterm_mid_epoch_saves_the_step_and_resume_is_exact(setup, uninterrupted, tmp_path):
    out = tmp_path / "run"
    status, err = start_and_signal(train_args(setup, out), out, signal.SIGTERM, after=2)
    assert status == 143, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    state = read_checkpoint(out / "checkpoint.pth.tar")["tpsmm_training"]
    step = state["global_step"]
    assert 2 <= step < STEPS_PER_EPOCH and state["epoch"] == 0  # mid-epoch
    assert state["step_in_epoch"] == step == logged_steps(out)
    assert lines[0] == (
        f"tpsmm train: terminated (SIGTERM) at epoch 0, step {step}; saved "
        f"{out / 'checkpoint.pth.tar'} (continue with: tpsmm train --resume {out})"
    )
    assert stale_partials(out) == []
    run(["train", "--resume", str(out), *COMMON])
    assert_same_run(uninterrupted, out)


def test_sigterm_to_the_process_group_with_loader_workers_saves_the_step(setup, tmp_path):
    """The DataLoader worker gets the signal too; it must not die and fail the step."""
    out = tmp_path / "run"
    args = [*train_args(setup, out), "--workers", "1"]
    status, err = start_and_signal(args, out, signal.SIGTERM, after=2, group=True)
    assert status == 143, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tpsmm train: terminated (SIGTERM)"), err
    state = read_checkpoint(out / "checkpoint.pth.tar")["tpsmm_training"]
    assert state["global_step"] >= 2 and state["step_in_epoch"] == logged_steps(out)
    assert stale_partials(out) == []


def test_sigint_exits_130_and_resume_is_exact(setup, uninterrupted, tmp_path):
    out = tmp_path / "run"
    status, err = start_and_signal(
        train_args(setup, out), out, signal.SIGINT, after=STEPS_PER_EPOCH + 2
    )
    assert status == 130, err
    assert err.strip().startswith("tpsmm train: interrupted at epoch 1, step ")
    assert len(err.strip().splitlines()) == 1
    run(["train", "--resume", str(out), *COMMON])
    assert_same_run(uninterrupted, out)


def test_train_avd_sigterm_and_resume_is_exact(uninterrupted, tmp_path):
    checkpoint = uninterrupted / "checkpoint.pth.tar"
    whole, part = tmp_path / "whole", tmp_path / "part"
    avd = ["train-avd", "--checkpoint", str(checkpoint), *COMMON]
    run([*avd, "--out", str(whole)])
    status, err = start_and_signal([*avd, "--out", str(part)], part, signal.SIGTERM, after=1)
    assert status == 143, err
    assert err.strip().startswith("tpsmm train-avd: terminated (SIGTERM) at epoch 0, step ")
    state = read_checkpoint(part / "checkpoint.pth.tar")["tpsmm_training"]
    assert 1 <= state["global_step"] < 2 * AVD_STEPS_PER_EPOCH
    run(["train-avd", "--resume", str(part), *COMMON])
    assert_same_run(whole, part)


def test_checkpoint_minutes_bound_what_kill_9_loses(setup, uninterrupted, tmp_path):
    out = tmp_path / "run"
    # 0.0001 minutes: a checkpoint after every step.
    args = [*train_args(setup, out), "--checkpoint-minutes", "0.0001"]
    status, _ = start_and_signal(args, out, signal.SIGKILL, after=3)
    assert status == -signal.SIGKILL
    state = read_checkpoint(out / "checkpoint.pth.tar")["tpsmm_training"]
    assert state["global_step"] >= 2 and state["epoch"] == 0  # at most a step or so lost
    run(["train", "--resume", str(out), *COMMON])
    assert stale_partials(out) == []  # whatever kill -9 left half-written is gone
    assert_same_run(uninterrupted, out)


def test_help_shows_the_checkpoint_defaults(capsys):
    from tpsmm import cli

    for command in ("train", "train-avd"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "default: the config's checkpoint_freq: 10 for tpsmm train" in text
        assert "--checkpoint-minutes M" in text and "kill -9" in text
