"""``tpsmm live`` with a file as the camera and a file as the output: the recording, its
times, one-line errors, and a signal that ends it with the recording kept."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import SAMPLE_SOURCE, pattern_frame, write_video

from tpsmm.media import VideoReader

CLI_CODE = "import sys, tpsmm.cli; sys.exit(tpsmm.cli.main())"


@pytest.fixture(scope="module")
def camera_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twenty 96x64 frames at 25 frames per second (0.8 s)."""
    path = tmp_path_factory.mktemp("camera") / "camera.mp4"
    return write_video(path, (pattern_frame(index, (96, 64)) for index in range(20)))


def live_args(checkpoint: Path, camera: Path, output: Path) -> list[object]:
    return [
        "live", "--source", SAMPLE_SOURCE, "--camera", camera, "--output", output,
        "--checkpoint", checkpoint, "--dtype", "float32",
    ]  # fmt: skip


def test_file_camera_recorded_with_real_times(run_cli, tiny_checkpoint, camera_file, tmp_path):
    output = tmp_path / "live.mp4"
    result = run_cli(*live_args(tiny_checkpoint, camera_file, output))
    assert result.status == 0, result.err
    (line,) = result.out.splitlines()
    assert line.startswith("tpsmm live: ") and line.endswith(f"; recorded to {output}")
    assert "frames per second, median latency" in line
    with VideoReader(output) as reader:
        assert reader.size == (64, 64)
        timed = list(reader.timed_frames())
    frames = int(line.split("tpsmm live: ")[1].split(" frames")[0])
    dropped = int(line.split(", ")[-1].split(" camera frames dropped")[0])
    assert len(timed) == frames and frames + dropped == 20
    times = [float(moment) for _, moment in timed]
    assert times == sorted(times) and times[-1] <= 20 / 25 + 2  # as they were made
    assert sorted(path.name for path in tmp_path.iterdir()) == ["live.mp4"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--camera", "/dev/video99"], "camera /dev/video99: no such file or camera device"),
        (["--output", "out.avi"], "unsupported output type '.avi'"),
        (["--motion-scale", "-1"], "motion scale must be a number >= 0"),
        (["--camera-size", "640"], "--camera-size must be WIDTHxHEIGHT"),
        (["--seconds", "0"], "--seconds must be positive"),
    ],
)
def test_bad_arguments_end_in_one_line(run_cli, camera_file, tmp_path, extra, message):
    args = ["live", "--source", SAMPLE_SOURCE, "--camera", camera_file, "--output", "x.mp4"]
    for flag, value in zip(extra[::2], extra[1::2], strict=True):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    result = run_cli(*args)
    assert result.status == 2
    assert len(result.error_lines) == 1 and message in result.err, result.err


def test_nowhere_to_send_frames(run_cli, camera_file):
    result = run_cli("live", "--source", SAMPLE_SOURCE, "--camera", camera_file)
    assert result.status == 2
    assert "nowhere to send the frames: give --output FILE and/or --virtual-camera" in result.err


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_it_with_the_recording_kept(signum, tiny_checkpoint, tmp_path):
    """A 20-second file as the camera, stopped once frames are being recorded: one line,
    the signal's status, and the recording is a whole video of the frames made."""
    camera = write_video(
        tmp_path / "long.mp4", (pattern_frame(index, (96, 64)) for index in range(500))
    )
    output = tmp_path / "out" / "live.mkv"
    output.parent.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-c", CLI_CODE, *map(str, live_args(tiny_checkpoint, camera, output))],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 600
    while not any(".partial-" in path.name for path in output.parent.iterdir()):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    time.sleep(1.0)  # a few frames recorded
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum
    name = "interrupted" if signum == signal.SIGINT else "terminated (SIGTERM)"
    assert err.startswith(f"tpsmm live: {name}: ") and err.endswith(f"; recorded to {output}\n")
    assert len(err.splitlines()) == 1 and out == ""
    frames = int(err.split(f"{name}: ")[1].split(" frames")[0])
    with VideoReader(output) as reader:
        assert sum(1 for _ in reader) == frames > 0
    assert [path.name for path in output.parent.iterdir()] == ["live.mkv"]


def test_a_signal_during_the_write_keeps_the_frame_and_the_recording(tmp_path, monkeypatch):
    """A signal that arrives while a frame is being encoded is raised once that frame is
    written and counted, so the recording closes whole with as many frames as the
    closing line says (it used to be discarded, the line still claiming it)."""
    import os
    import types

    from tpsmm.cli.live import _animate
    from tpsmm.live.engine import FrameStats
    from tpsmm.live.outputs import Recording

    recording = Recording(tmp_path / "live.mkv", 25)
    write = recording.writer._sink.write

    def interrupted_write(frame, time):
        if recording.writer.frames_written == 1:
            os.kill(os.getpid(), signal.SIGINT)  # mid-write of the second frame
        write(frame, time)

    monkeypatch.setattr(recording.writer._sink, "write", interrupted_write)
    image = pattern_frame(0, (32, 32))
    camera = ((image, time.monotonic()) for _ in range(10))
    live = types.SimpleNamespace(animate=lambda frame: types.SimpleNamespace(image=frame))
    stats = FrameStats()
    with pytest.raises(KeyboardInterrupt):
        _animate(camera, live, stats, recording, None, None)
    recording.close()
    assert recording.saved and stats.count == recording.frames == 2
    with VideoReader(tmp_path / "live.mkv") as reader:
        assert sum(1 for _ in reader) == 2
