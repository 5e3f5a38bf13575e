"""``tpsmm animate --pairs``: many pairs, failures reported, sharding by RANK/WORLD_SIZE."""

from __future__ import annotations

import shutil

import pytest
from cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE, run_cli_subprocess

from tpsmm.media import VideoReader


@pytest.fixture
def inputs(tmp_path):
    """A folder with the sample (so the CSV can use relative paths)."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    shutil.copy(SAMPLE_SOURCE, folder / "face.png")
    shutil.copy(SAMPLE_DRIVING, folder / "talk.mp4")
    return folder


def test_two_pairs_one_bad(run_cli, tiny_checkpoint, inputs, tmp_path):
    csv = inputs / "pairs.csv"
    csv.write_text("source,driving,output\nface.png,talk.mp4,good.mp4\nface.png,gone.mp4,bad.mp4\n")
    out_dir = tmp_path / "results"
    result = run_cli(
        "animate",
        "--pairs",
        csv,
        "--out-dir",
        out_dir,
        "--checkpoint",
        tiny_checkpoint,
        "--max-frames",
        2,
    )
    assert result.status == 1
    assert "Traceback" not in result.err
    assert sorted(p.name for p in out_dir.iterdir()) == ["good.mp4"]
    with VideoReader(out_dir / "good.mp4") as reader:
        assert len(list(reader)) == 2
    assert "line 2 (face.png -> talk.mp4): wrote" in result.out
    errors = result.error_lines
    assert len(errors) == 2
    assert errors[0].startswith("tpsmm animate: line 3 (face.png -> gone.mp4): error: ")
    assert "no such file" in errors[0]
    assert errors[1] == "tpsmm animate: 1 of 2 pairs done, 1 failed"


def test_per_row_mode_and_default_names(run_cli, tiny_checkpoint, inputs, tmp_path):
    csv = inputs / "pairs.csv"
    csv.write_text("face.png,talk.mp4,,standard\nface.png,talk.mp4,,sideways\n")
    out_dir = tmp_path / "results"
    result = run_cli(
        "animate",
        "--pairs",
        csv,
        "--out-dir",
        out_dir,
        "--checkpoint",
        tiny_checkpoint,
        "--max-frames",
        1,
        "--quiet",
    )
    assert result.status == 1
    assert [p.name for p in out_dir.iterdir()] == ["face_talk.mp4"]
    assert "unknown mode 'sideways'" in result.err
    assert result.out == ""


def test_sharding_by_rank(tiny_checkpoint, inputs, tmp_path):
    csv = inputs / "pairs.csv"
    rows = [f"face.png,talk.mp4,out{index}.gif" for index in range(3)]
    csv.write_text("\n".join(rows) + "\n")
    out_dir = tmp_path / "results"
    args = ["animate", "--pairs", csv, "--out-dir", out_dir, "--checkpoint", tiny_checkpoint]
    args += ["--max-frames", 1, "--device", "cpu"]
    done = run_cli_subprocess(args, env={"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert done.returncode == 0, done.stderr
    assert [p.name for p in out_dir.iterdir()] == ["out1.gif"]
    assert "[rank 1 of 2] line 2 (face.png -> talk.mp4): wrote" in done.stdout
    assert "[rank 1 of 2] 1 of 1 pairs done" in done.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--source", SAMPLE_SOURCE], "--pairs takes the files from the CSV; drop --source"),
        ([], "--pairs needs --out-dir DIR"),
    ],
)
def test_pairs_argument_errors(run_cli, tiny_checkpoint, inputs, extra, message):
    csv = inputs / "pairs.csv"
    csv.write_text("face.png,talk.mp4\n")
    result = run_cli("animate", "--pairs", csv, "--checkpoint", tiny_checkpoint, *extra)
    assert result.status == 2
    assert len(result.error_lines) == 1
    assert result.error_lines[0].startswith(f"tpsmm animate: error: {message}")


def test_bad_csv_is_one_line(run_cli, tiny_checkpoint, inputs, tmp_path):
    csv = inputs / "pairs.csv"
    csv.write_text("face.png\n")
    result = run_cli(
        "animate", "--pairs", csv, "--out-dir", tmp_path / "r", "--checkpoint", tiny_checkpoint
    )
    assert result.status == 2
    assert len(result.error_lines) == 1
    assert "pairs.csv:1: expected source, driving" in result.err
    assert not (tmp_path / "r").exists()


def test_bad_rank_environment(run_cli, tiny_checkpoint, inputs, tmp_path, monkeypatch):
    csv = inputs / "pairs.csv"
    csv.write_text("face.png,talk.mp4\n")
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "2")
    result = run_cli(
        "animate", "--pairs", csv, "--out-dir", tmp_path / "r", "--checkpoint", tiny_checkpoint
    )
    assert result.status == 2
    assert "0 <= RANK < WORLD_SIZE" in result.err
