"""``tpsmm train`` and ``tpsmm train-avd`` through ``tpsmm.cli.main``: exit statuses and
one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from trainer_helpers import make_dataset, one_thread, tiny_training_config_dict

import tpsmm
from tpsmm import cli
from tpsmm.checkpoint import read_checkpoint


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    with one_thread():
        yield


def run_cli(argv: list[str]) -> int:
    """``tpsmm ARGV`` in this process; returns the exit status."""
    return cli.main(argv)


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> tuple[Path, Path]:
    """A dataset and a YAML config file of the tiny model."""
    folder = tmp_path_factory.mktemp("cli")
    root = make_dataset(folder / "data")
    config = folder / "tiny-32.yaml"
    config.write_text(yaml.safe_dump(tiny_training_config_dict(None)))
    return root, config


def _error_line(capsys, command: str) -> str:
    """The error message: the last line of stderr, one line (warnings may precede it)."""
    lines = capsys.readouterr().err.splitlines()
    assert lines and lines[-1].startswith(f"tpsmm {command}: error: "), lines
    assert not any("Traceback" in line for line in lines), lines
    return lines[-1]


def test_train_resume_and_train_avd(setup, tmp_path, capsys):
    root, config = setup
    run = tmp_path / "run"
    common = ["--no-pretrained-vgg", "--device", "cpu", "--no-progress"]
    status = run_cli(
        ["train", "--config", str(config), "--data", str(root), "--out", str(run),
         "--max-steps", "1", "--batch-size", "4", "--checkpoint-every", "3", "--epochs", "4",
         *common])  # fmt: skip
    assert status == 0
    assert "stopped at epoch 0, step 1" in capsys.readouterr().out
    raw = read_checkpoint(run / "checkpoint.pth.tar")
    params = raw["tpsmm_config"]["train_params"]
    assert (params["batch_size"], params["checkpoint_freq"], params["num_epochs"]) == (4, 3, 4)
    assert raw["tpsmm_config"]["dataset_params"]["root_dir"] == str(root)

    # Resume: --out defaults to the run, the data root comes from the stored config.
    assert run_cli(["train", "--resume", str(run), "--max-steps", "2", *common]) == 0
    assert read_checkpoint(run / "checkpoint.pth.tar")["tpsmm_training"]["global_step"] == 2

    assert run_cli(
        ["train", "--resume", str(run), "--config", str(config), *common]) == 2  # fmt: skip
    assert "--config cannot be combined with --resume" in _error_line(capsys, "train")

    # train-avd from the generator run; its output goes to RUN/avd by default.
    checkpoint = run / "checkpoint.pth.tar"
    status = run_cli(
        ["train-avd", "--checkpoint", str(checkpoint), "--max-steps", "1", "--batch-size", "4",
         "--device", "cpu", "--no-progress"])  # fmt: skip
    assert status == 0
    model = tpsmm.load_model(run / "avd" / "checkpoint.pth.tar")
    assert model.avd_available
    before = read_checkpoint(checkpoint)["kp_detector"]
    for key, value in model.kp_detector.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "{empty}", "--out", "{out}"], "no videos found"),
        (["--data", "{missing}", "--out", "{out}"], "dataset folder not found"),
        (["--data", "{broken}", "--out", "{out}", "--max-steps", "1"], "not an image"),
        (["--data", "{root}", "--out", "{out}", "--precision", "fp16"], "fp16 needs CUDA"),
        (["--data", "{root}", "--out", "{out}", "--sync-bn"], "SyncBatchNorm"),
        (["--data", "{root}", "--out", "{out}", "--batch-size", "100"], "fewer than one batch"),
        (["--data", "{root}"], "--out RUN is required"),
    ],
)
def test_train_errors_are_one_line(setup, tmp_path, capsys, args, message):
    root, config = setup
    empty = tmp_path / "empty"
    empty.mkdir()
    broken = make_dataset(tmp_path / "broken")
    for frame in (broken / "train").glob("*/*.png"):  # every video: the first batch fails
        frame.write_bytes(b"\x89PNG broken")
    names = {
        "empty": empty,
        "missing": tmp_path / "missing",
        "broken": broken,
        "root": root,
        "out": tmp_path / "run",
    }
    argv = [a.format(**names) for a in args]
    common = ["--config", str(config), "--no-pretrained-vgg", "--device", "cpu", "--no-progress"]
    assert run_cli(["train", *argv, *common]) == 2
    assert message in _error_line(capsys, "train")


def test_train_usage_errors(setup, tmp_path, capsys):
    root, _ = setup
    out = str(tmp_path / "run")
    assert run_cli(["train", "--data", str(root), "--out", out]) == 2
    assert "needs --config" in _error_line(capsys, "train")
    assert run_cli(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert "does not exist" in _error_line(capsys, "train")
    missing_vgg = ["--vgg19", str(tmp_path / "vgg.pth")]
    status = run_cli(
        ["train", "--config", "vox-256", "--data", str(root), "--out", out, *missing_vgg]
    )
    assert status == 2
    assert "VGG-19" in _error_line(capsys, "train")
    with pytest.raises(SystemExit) as usage:
        run_cli(["train", "--batch-size", "0"])
    assert usage.value.code == 2
    assert run_cli(["train-avd", "--data", str(root)]) == 2
    assert "--checkpoint" in _error_line(capsys, "train-avd")


def test_cli_precisions_match_the_trainer():
    from tpsmm.cli.train import PRECISION_CHOICES
    from tpsmm.training.loop import PRECISIONS

    assert PRECISION_CHOICES == PRECISIONS
