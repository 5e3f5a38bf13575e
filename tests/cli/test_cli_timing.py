"""``tpsmm animate`` keeps the driving video's timing: variable-frame-rate Matroska and
mp4 give an output that lasts as long, frame for frame, with the audio in sync; a folder
of frames plays at --fps (default 25)."""

from __future__ import annotations

import pytest
from cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE, pattern_frame, write_png_folder

from timing_helpers import VFR_END_MS, VFR_TIMES_MS, frame_times, timing, write_vfr_video

TIMES = [time / 1000 for time in VFR_TIMES_MS]
END = VFR_END_MS / 1000
AAC_PACKET = 0.064  # 1024 samples at 16 kHz: audio is cut at packet granularity


def check_vfr_times(out) -> dict[str, object]:
    """The output of the variable-rate video: its frame times, length and audio end;
    returns its :func:`timing`."""
    assert frame_times(out) == pytest.approx(TIMES, abs=0.0005)
    measured = timing(out)
    assert measured["video"] == pytest.approx(END, abs=0.0005)
    assert END <= measured["audio_end"] <= END + AAC_PACKET
    return measured


@pytest.mark.parametrize(("driving_suffix", "output"), [("mkv", "out.mp4"), ("mp4", "out.mkv")])
def test_variable_frame_rate_keeps_times_length_and_audio(
    run_cli, tiny_checkpoint, tmp_path, driving_suffix, output
):
    driving = write_vfr_video(tmp_path / f"vfr.{driving_suffix}")
    out = tmp_path / output
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", driving,
        "--checkpoint", tiny_checkpoint, "--output", out,
    )  # fmt: skip
    assert result.status == 0, result.err
    measured = check_vfr_times(out)
    assert measured["audio"] == pytest.approx(timing(driving)["audio"][: len(measured["audio"])])
    assert f"{len(TIMES)} frames, 64x64 variable frame rate (" in result.out
    assert f"{END:.2f} s long, with audio" in result.out


def test_max_frames_of_a_variable_rate_video(run_cli, tiny_checkpoint, tmp_path):
    driving = write_vfr_video(tmp_path / "vfr.mkv")
    out = tmp_path / "out.mp4"
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", driving,
        "--checkpoint", tiny_checkpoint, "--output", out, "--max-frames", 12,
    )  # fmt: skip
    assert result.status == 0, result.err
    assert frame_times(out) == pytest.approx(TIMES[:12], abs=0.0005)
    end = TIMES[11] + (TIMES[11] - TIMES[10])  # the last frame lasts as the one before
    measured = timing(out)
    assert measured["video"] == pytest.approx(end, abs=0.0005)
    assert end <= measured["audio_end"] <= end + AAC_PACKET


@pytest.mark.parametrize(
    ("fps", "interval", "shown"),
    [(None, 0.04, "25"), ("10", 0.1, "10"), ("30000/1001", 1001 / 30000, "29.97")],
)
def test_folder_of_frames_plays_at_fps(run_cli, tiny_checkpoint, tmp_path, fps, interval, shown):
    folder = write_png_folder(tmp_path / "frames", (pattern_frame(i) for i in range(6)))
    out = tmp_path / "out.mp4"
    extra = [] if fps is None else ["--fps", fps]
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", folder,
        "--checkpoint", tiny_checkpoint, "--output", out, *extra,
    )  # fmt: skip
    assert result.status == 0, result.err
    assert frame_times(out) == pytest.approx([i * interval for i in range(6)], abs=1e-4)
    assert timing(out)["video"] == pytest.approx(6 * interval, abs=1e-4)
    assert f"6 frames, 64x64 at {shown} fps, {6 * interval:.2f} s long, no audio" in result.out


@pytest.mark.parametrize("bad", ["0", "-3", "fast", "1/0"])
def test_bad_fps_is_refused(run_cli, tiny_checkpoint, tmp_path, bad, capsys):
    with pytest.raises(SystemExit) as stopped:
        run_cli("animate", "--source", SAMPLE_SOURCE, "--driving", tmp_path, "--fps", bad,
                "--checkpoint", tiny_checkpoint, "--output", tmp_path / "o.mp4")  # fmt: skip
    assert stopped.value.code == 2
    assert f"argument --fps: expected a positive frame rate, got '{bad}'" in capsys.readouterr().err


def test_fps_for_a_video_file_is_refused(run_cli, tiny_checkpoint, tmp_path):
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", SAMPLE_DRIVING, "--fps", "10",
        "--checkpoint", tiny_checkpoint, "--output", tmp_path / "o.mp4",
    )  # fmt: skip
    assert result.status == 2
    assert result.error_lines == [
        f"tpsmm animate: error: --fps sets the frame rate of a folder of frames; "
        f"{SAMPLE_DRIVING} is a video file, whose frames keep their own timestamps"
    ]
    assert list(tmp_path.iterdir()) == []


def test_motion_file_keeps_the_times(run_cli, tiny_checkpoint, tmp_path):
    """A motion file of a variable-rate video animates with the video's frame times."""
    driving = write_vfr_video(tmp_path / "vfr.mkv")
    motion = tmp_path / "vfr.npz"
    made = run_cli("motion", "--driving", driving, "--checkpoint", tiny_checkpoint, "--out", motion)
    assert made.status == 0, made.err
    out = tmp_path / "out.mp4"
    result = run_cli(
        "animate", "--source", SAMPLE_SOURCE, "--driving", motion,
        "--checkpoint", tiny_checkpoint, "--output", out,
    )  # fmt: skip
    assert result.status == 0, result.err
    check_vfr_times(out)
