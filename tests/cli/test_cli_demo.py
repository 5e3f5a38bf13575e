"""``tpsmm demo``: the bundled sample, with and without a checkpoint."""

from __future__ import annotations

from cli_helpers import TINY_SIZE

from tpsmm.cli.demo import DEFAULT_OUTPUT, sample_paths
from tpsmm.media import VideoReader


def test_without_checkpoint_the_bundled_model_animates(run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run_cli("demo", "--max-frames", 3)
    assert result.status == 0, result.err
    assert "using the bundled demo model" in result.err and "vox.pth.tar" in result.err
    output = tmp_path / DEFAULT_OUTPUT
    assert f"the result is at {output}" in result.out
    with VideoReader(output) as reader:
        frames = list(reader)
        assert reader.has_audio
    assert [frame.shape for frame in frames] == [(128, 3 * 128, 3)] * 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [DEFAULT_OUTPUT]


def test_default_output_in_the_current_folder(run_cli, tiny_checkpoint, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TPSMM_CHECKPOINT", str(tiny_checkpoint))
    result = run_cli("demo", "--max-frames", 2)
    assert result.status == 0, result.err
    output = tmp_path / DEFAULT_OUTPUT
    assert f"the result is at {output}" in result.out
    with VideoReader(output) as reader:
        frames = list(reader)
        assert reader.has_audio
    assert len(frames) == 2
    assert frames[0].shape == (TINY_SIZE, 3 * TINY_SIZE, 3)  # side by side


def test_checkpoint_argument_and_options(run_cli, tiny_checkpoint, tmp_path):
    output = tmp_path / "demo.gif"
    result = run_cli(
        "demo",
        "--checkpoint",
        tiny_checkpoint,
        "--output",
        output,
        "--no-side-by-side",
        "--mode",
        "standard",
        "--max-frames",
        2,
        "--quiet",
    )
    assert result.status == 0, result.err
    assert result.out.strip() == f"the result is at {output.resolve()}"
    with VideoReader(output) as reader:
        assert next(iter(reader)).shape == (TINY_SIZE, TINY_SIZE, 3)


def test_sample_is_bundled():
    with sample_paths() as (source, driving):
        assert source.is_file() and driving.is_file()


def test_a_refused_output_is_one_line_without_the_bundled_model_note(run_cli, tmp_path):
    """The note about the bundled model comes when it loads, after the checks."""
    (tmp_path / "notes.txt").write_text("a file")
    result = run_cli("demo", "--output", tmp_path / "notes.txt" / "out.mp4")
    assert result.status == 2
    assert result.err.strip().splitlines() == [
        f"tpsmm demo: error: {tmp_path / 'notes.txt' / 'out.mp4'}: "
        f"{tmp_path / 'notes.txt'} is a file, not a folder"
    ]
