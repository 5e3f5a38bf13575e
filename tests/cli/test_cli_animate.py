"""``tpsmm animate`` end to end: frames, frame rate, audio, output types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE, TINY_SIZE, read_png_folder, sample_job

import tpsmm
from tpsmm.media import VideoReader, fit_frame, fit_frames, load_image, read_video
from tpsmm.media._common import to_uint8

FRAMES = 2


def expected_frames(model: tpsmm.TPSMM, count: int, mode: str = "relative", batch_size: int = 2):
    """``tpsmm.animate`` on the sample, fitted as the job fits it (crop), as uint8."""
    size = model.frame_size
    source = fit_frame(load_image(SAMPLE_SOURCE), size, "crop")
    driving = fit_frames(read_video(SAMPLE_DRIVING, max_frames=count), size, "crop")
    result = tpsmm.animate(model, source, driving, mode, batch_size=batch_size)
    return source, driving, to_uint8(result)


@pytest.fixture(scope="module")
def reference_expected(reference_model) -> np.ndarray:
    """(FRAMES, 256, 256, 3) uint8: ``tpsmm.animate`` on the sample's first frames."""
    return expected_frames(reference_model, FRAMES)[2]


def test_png_frames_equal_tpsmm_animate(
    run_cli, reference_checkpoint, reference_expected, tmp_path
):
    out = tmp_path / "frames"
    result = run_cli(
        *sample_job(reference_checkpoint, out),
        "--max-frames",
        FRAMES,
        "--batch-size",
        2,
        "--device",
        "cpu",
    )
    assert result.status == 0, result.err
    assert f"{FRAMES} frames" in result.out
    written = read_png_folder(out)
    assert written.shape == (FRAMES, 256, 256, 3)
    np.testing.assert_array_equal(written, reference_expected)


def test_mp4_keeps_rate_and_audio(run_cli, reference_checkpoint, reference_expected, tmp_path):
    out = tmp_path / "result.mp4"
    result = run_cli(
        *sample_job(reference_checkpoint, out),
        "--max-frames",
        FRAMES,
        "--batch-size",
        2,
        "--quiet",
    )
    assert result.status == 0, result.err
    assert result.out == ""
    with VideoReader(SAMPLE_DRIVING) as driving, VideoReader(out) as written:
        assert written.frame_rate == driving.frame_rate
        assert written.has_audio
        frames = np.stack(list(written))
    assert frames.shape == (FRAMES, 256, 256, 3)
    error = np.mean((frames.astype(np.float64) - reference_expected.astype(np.float64)) ** 2)
    assert 10 * np.log10(255**2 / error) > 30  # H.264 at crf 18, yuv420p, noisy content


def test_side_by_side_png(run_cli, tiny_checkpoint, tiny_model, tmp_path):
    out = tmp_path / "sbs"
    result = run_cli(
        *sample_job(tiny_checkpoint, out),
        "--max-frames",
        3,
        "--side-by-side",
        "--batch-size",
        2,
    )
    assert result.status == 0, result.err
    written = read_png_folder(out)
    assert written.shape == (3, TINY_SIZE, 3 * TINY_SIZE, 3)
    source, driving, animated = expected_frames(tiny_model, 3)
    np.testing.assert_array_equal(written[:, :, :TINY_SIZE], np.broadcast_to(source, driving.shape))
    np.testing.assert_array_equal(written[:, :, TINY_SIZE : 2 * TINY_SIZE], driving)
    np.testing.assert_array_equal(written[:, :, 2 * TINY_SIZE :], animated)


def test_gif_output(run_cli, tiny_checkpoint, tmp_path):
    out = tmp_path / "result.gif"
    result = run_cli(
        *sample_job(tiny_checkpoint, out),
        "--max-frames",
        3,
    )
    assert result.status == 0, result.err
    with VideoReader(out) as written:
        frames = list(written)
    assert len(frames) == 3
    assert frames[0].shape == (TINY_SIZE, TINY_SIZE, 3)


@pytest.mark.parametrize("fit", ["crop", "pad", "stretch"])
def test_fit_modes_and_standard_mode(run_cli, tiny_checkpoint, tiny_model, tmp_path, fit):
    out = tmp_path / "frames"
    result = run_cli(
        *sample_job(tiny_checkpoint, out),
        "--max-frames",
        2,
        "--fit",
        fit,
        "--mode",
        "standard",
        "--batch-size",
        2,
    )
    assert result.status == 0, result.err
    source = fit_frame(load_image(SAMPLE_SOURCE), TINY_SIZE, fit)
    driving = fit_frames(read_video(SAMPLE_DRIVING, max_frames=2), TINY_SIZE, fit)
    expected = to_uint8(tpsmm.animate(tiny_model, source, driving, "standard", batch_size=2))
    np.testing.assert_array_equal(read_png_folder(out), expected)


def test_avd_mode_runs_with_an_avd_network(run_cli, tiny_checkpoint, tmp_path):
    out = tmp_path / "avd.mp4"
    result = run_cli(
        *sample_job(tiny_checkpoint, out),
        "--max-frames",
        2,
        "--mode",
        "avd",
    )
    assert result.status == 0, result.err
    assert out.is_file()


def test_driving_folder_of_frames(run_cli, tiny_checkpoint, tmp_path):
    from cli_helpers import pattern_frame, write_png_folder

    folder = write_png_folder(tmp_path / "driving", (pattern_frame(i) for i in range(3)))
    out = tmp_path / "out.mp4"
    result = run_cli(
        "animate",
        "--source",
        SAMPLE_SOURCE,
        "--driving",
        folder,
        "--checkpoint",
        tiny_checkpoint,
        "-o",
        out,
    )
    assert result.status == 0, result.err
    with VideoReader(out) as written:
        assert len(list(written)) == 3
        assert not written.has_audio


def test_help_documents_the_default_fit(run_cli, capsys):
    with pytest.raises(SystemExit):
        run_cli("animate", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "crop (default)" in text
    assert "stretch (what the authors' demo does)" in text


def test_missing_arguments_one_line(run_cli, tmp_path):
    result = run_cli("animate", "--source", SAMPLE_SOURCE)
    assert result.status == 2
    assert result.error_lines == [
        "tpsmm animate: error: missing --driving, --output: give --source IMAGE --driving "
        "VIDEO --output OUT, or --pairs CSV --out-dir DIR"
    ]


def test_output_is_not_left_when_the_checkpoint_is_missing(run_cli, tmp_path):
    # Without --checkpoint the bundled model animates (tests/cli/test_cli_demo.py).
    out = tmp_path / "out.mp4"
    missing = tmp_path / "missing.pth.tar"
    result = run_cli(
        "animate",
        "--source",
        SAMPLE_SOURCE,
        "--driving",
        SAMPLE_DRIVING,
        "-o",
        out,
        "--checkpoint",
        missing,
    )
    assert result.status == 2
    assert len(result.error_lines) == 1 and str(missing) in result.err
    assert not Path(out).exists()


def test_authors_file_name_is_said_in_one_line(run_cli, reference_checkpoint, tmp_path):
    link = tmp_path / "taichi.pth.tar"
    link.symlink_to(reference_checkpoint)
    result = run_cli(*sample_job(link, tmp_path / "o"), "--max-frames", 1)
    assert result.status == 0, result.err
    assert result.error_lines == [
        "tpsmm animate: note: taichi.pth.tar holds no config: the taichi-256 preset, as the "
        "authors' taichi checkpoint (--config to choose another)"
    ]


@pytest.mark.parametrize("mode", ["relative", "standard"])
def test_black_first_frame_as_the_reference_is_warned(run_cli, tiny_checkpoint, tmp_path, mode):
    """A black first driving frame would be the relative mode's reference: a warning
    suggests --find-best-frame; the other modes take no reference and say nothing."""
    from cli_helpers import pattern_frame, write_video

    black = np.zeros((TINY_SIZE, TINY_SIZE, 3), np.uint8)
    driving = write_video(tmp_path / "fade-in.mp4", [black, *(pattern_frame(i) for i in range(3))])
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", driving, "--checkpoint",
        tiny_checkpoint, "--output", tmp_path / "out/", "--mode", mode, "-q",
    )  # fmt: skip
    assert result.status == 0, result.err
    warned = [line for line in result.error_lines if "nearly uniform" in line]
    if mode == "relative":
        assert warned == [
            f"tpsmm animate: warning: {driving}: the first driving frame, the relative mode's "
            "reference, is nearly uniform (mean level 0 of 255: a black or blank frame); the "
            "motion is measured from it and will be wrong: --find-best-frame takes the frame "
            "most like the source as the reference, or cut the video"
        ]
    else:
        assert warned == []
