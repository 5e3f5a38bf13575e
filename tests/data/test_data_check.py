"""check_dataset and ``tpsmm dataset check``: report contents and exit status."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from data_helpers import (
    noise_frames,
    palette_indices,
    smooth_frames,
    write_gif,
    write_png_folder,
    write_strip,
    write_video,
)

from tpsmm.cli import dataset as dataset_cli
from tpsmm.data import check_dataset
from tpsmm.errors import DatasetError


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="tpsmm")
    subparsers = parser.add_subparsers(dest="command")
    dataset_cli.register(subparsers)
    args = parser.parse_args(argv)
    return int(args.func(args))


def problem_root(tmp_path: Path) -> Path:
    root = tmp_path / "ds"
    write_png_folder(root / "train" / "id1#good", noise_frames(4))
    write_video(root / "train" / "id1#clip.mp4", smooth_frames(3, 12, 16))
    write_png_folder(root / "train" / "id2#single", noise_frames(1))
    (root / "train" / "id3#empty").mkdir()
    (root / "train" / "id4#broken.mp4").write_bytes(b"not a video at all")
    write_gif(root / "test" / "t.gif", palette_indices(5, 12, 16))
    return root


def test_report_finds_empty_unreadable_and_one_frame(tmp_path: Path) -> None:
    root = problem_root(tmp_path)
    report = check_dataset(root)
    assert report.layout == "train/ and test/ folders"
    assert not report.ok
    kinds = {(f.severity, f.kind, f.path.name) for f in report.findings}
    assert ("error", "empty", "id3#empty") in kinds
    assert ("error", "unreadable", "id4#broken.mp4") in kinds
    assert ("warning", "one frame", "id2#single") in kinds
    assert len(report.errors) == 2
    train, test = report.splits
    assert (train.name, train.num_videos, train.num_identities) == ("train", 5, 4)
    assert train.num_frames == 4 + 3 + 1 + 0
    assert (test.num_videos, test.num_frames, test.num_identities) == (1, 5, 1)


def test_cli_output_and_exit_status_with_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = problem_root(tmp_path)
    assert run_cli(["dataset", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"Dataset {root}" in out
    assert "train: 5 videos, 8 frames, 4 identities" in out
    assert "test:  1 video, 5 frames, 1 identity" in out
    assert "empty        train/id3#empty: no frames" in out
    assert "unreadable   train/id4#broken.mp4:" in out
    assert "one frame    train/id2#single: 1 frame" in out
    assert out.rstrip().endswith("2 errors, 1 warning: the dataset needs fixing")


def test_cli_ok_dataset_exits_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "ok"
    for i in range(5):
        write_png_folder(root / f"v{i}", noise_frames(2 + i))
    write_strip(root / "s.png", noise_frames(3))
    assert run_cli(["dataset", "check", str(root), "--frame-shape", "12,16"]) == 0
    out = capsys.readouterr().out
    assert "random 80/20 split of 6 videos (seed 0)" in out
    assert "train: 4 videos" in out and "test:  2 videos" in out
    assert out.rstrip().endswith("0 errors, 0 warnings: ok")


def test_one_frame_alone_is_only_a_warning(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write_png_folder(root / "train" / "single", noise_frames(1))
    write_png_folder(root / "test" / "t", noise_frames(2))
    assert run_cli(["dataset", "check", str(root)]) == 0


def test_strips_need_a_frame_shape(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "r"
    write_strip(root / "train" / "s.png", noise_frames(3))
    write_png_folder(root / "test" / "t", noise_frames(2))
    assert run_cli(["dataset", "check", str(root)]) == 1
    assert "bad strip    train/s.png: an image of concatenated frames needs" in (
        capsys.readouterr().out
    )
    assert run_cli(["dataset", "check", str(root), "--frame-shape", "12x16"]) == 0
    assert run_cli(["dataset", "check", str(root), "--frame-shape", "12,5"]) == 1
    assert "not a row of 12x5 frames" in capsys.readouterr().out


def test_sizes_and_layout_problems(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write_png_folder(root / "train" / "small", noise_frames(2, 8, 8))
    write_png_folder(root / "train" / "large", noise_frames(2, 10, 12))
    mixed = write_png_folder(root / "train" / "mixed", noise_frames(1, 8, 8))
    write_png_folder(mixed, noise_frames(1, 9, 8), names=["1.png"])
    report = check_dataset(root)
    kinds = {(f.severity, f.kind) for f in report.findings}
    assert ("error", "missing") in kinds  # no test/
    assert ("warning", "sizes differ") in kinds
    assert ("error", "mixed sizes") in kinds
    fixed = check_dataset(root, frame_shape=(8, 8))
    assert ("warning", "sizes differ") not in {(f.severity, f.kind) for f in fixed.findings}


def test_empty_split_and_missing_root(tmp_path: Path) -> None:
    (tmp_path / "r" / "train").mkdir(parents=True)
    (tmp_path / "r" / "test").mkdir()
    report = check_dataset(tmp_path / "r")
    assert {f.kind for f in report.errors} == {"no videos"}
    with pytest.raises(DatasetError, match="dataset folder not found"):
        check_dataset(tmp_path / "missing")


def test_quick_mode(tmp_path: Path) -> None:
    root = problem_root(tmp_path)
    report = check_dataset(root, quick=True)
    assert report.splits[0].num_frames == 8
    assert {f.kind for f in report.errors} == {"empty", "unreadable"}


def test_frame_shape_argument() -> None:
    assert dataset_cli.parse_frame_shape_arg("256,256") == (256, 256)
    assert dataset_cli.parse_frame_shape_arg("384x384") == (384, 384)
    assert dataset_cli.parse_frame_shape_arg("64,32,3") == (64, 32)
    for bad in ("256", "a,b", "0,3", "1,2,4"):
        with pytest.raises(argparse.ArgumentTypeError):
            dataset_cli.parse_frame_shape_arg(bad)


def test_through_the_dispatcher(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import tpsmm.cli

    assert tpsmm.cli.main(["dataset", "check", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"tpsmm dataset: error: {tmp_path / 'missing'}: dataset folder not found"
    assert tpsmm.cli.main(["dataset", "check", str(problem_root(tmp_path))]) == 1
