"""--device and --dtype through every command: one policy (:mod:`tpsmm.runtime`)."""

from __future__ import annotations

import pytest
import torch
from cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE

from tpsmm.runtime import DTYPE_NAMES, resolve_precision

COMMANDS = ("animate", "demo", "train", "train-avd", "reconstruct")
CPU = torch.device("cpu")


def job(checkpoint, output, *extra):
    return [
        "animate", "--source", SAMPLE_SOURCE, "--driving", SAMPLE_DRIVING,
        "--checkpoint", checkpoint, "--output", output, "--max-frames", 1, *extra,
    ]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_the_same_devices(run_cli, capsys, command):
    with pytest.raises(SystemExit):
        run_cli(command, "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--device auto|cpu|cuda|cuda:N|mps" in text
    assert "cuda:LOCAL_RANK" in text
    if command in ("animate", "demo", "reconstruct"):
        assert "--dtype auto|float32|bfloat16|float16" in text


def test_auto_dtype_is_named_in_the_summary(run_cli, tiny_checkpoint, tmp_path):
    result = run_cli(*job(tiny_checkpoint, tmp_path / "o"), "--device", "auto")
    assert result.status == 0, result.err
    chosen = resolve_precision("auto", CPU).dtype
    expected_device = "cuda:0" if torch.cuda.is_available() else "cpu"
    if expected_device == "cpu":
        assert result.out.strip().endswith(f"{DTYPE_NAMES[chosen]} on cpu")
    assert result.err == ""


def test_emulated_bfloat16_warns_in_one_line(run_cli, tiny_checkpoint, tmp_path):
    if resolve_precision("bfloat16", CPU).native:
        pytest.skip("this CPU computes bfloat16 natively")
    result = run_cli(
        *job(tiny_checkpoint, tmp_path / "o"), "--device", "cpu", "--dtype", "bfloat16"
    )
    assert result.status == 0, result.err
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith(
        "tpsmm animate: warning: bfloat16 is not native on this CPU"
    )
    assert result.out.strip().endswith("bfloat16 on cpu")


def test_float32_never_warns(run_cli, tiny_checkpoint, tmp_path):
    result = run_cli(*job(tiny_checkpoint, tmp_path / "o"), "--device", "cpu", "--dtype", "float32")
    assert result.status == 0 and result.err == ""
    assert result.out.strip().endswith("float32 on cpu")


@pytest.mark.parametrize("value", ["gpu", "cuda:x"])
def test_bad_device_is_one_line_everywhere(run_cli, tiny_checkpoint, tmp_path, value):
    result = run_cli(*job(tiny_checkpoint, tmp_path / "o"), "--device", value)
    assert result.status == 2
    assert result.error_lines == [
        f"tpsmm animate: error: unknown device {value!r}; choose auto, cpu, cuda, cuda:N or mps"
    ]
    result = run_cli("train", "--config", "vox-256", "--out", tmp_path / "r", "--device", value)
    assert result.status == 2 and len(result.error_lines) == 1
    assert "unknown device" in result.err
