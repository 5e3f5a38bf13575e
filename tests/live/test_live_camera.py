"""tpsmm live's inputs and outputs: what --camera names, the newest frame first, a file
played at its own rate, recordings with real times, the virtual camera's messages."""

from __future__ import annotations

import sys
import threading
import time
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from cli.cli_helpers import pattern_frame, write_video
from tpsmm.errors import MediaError, TPSMMError
from tpsmm.live import camera as camera_module
from tpsmm.live.camera import Camera, CameraInput, NewestFrame, camera_input
from tpsmm.live.outputs import LIVE_EXTRA_MISSING, Recording, VirtualCamera
from tpsmm.media import VideoReader


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten 96x64 frames at 25 frames per second (0.4 s)."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    return write_video(path, (pattern_frame(index, (96, 64)) for index in range(10)))


def test_what_the_camera_argument_names(clip: Path, tmp_path: Path):
    assert camera_input("rtsp://cam.local/stream") == CameraInput(
        "stream", "rtsp://cam.local/stream"
    )
    assert camera_input(str(clip)) == CameraInput("file", str(clip))
    assert camera_input("0", platform="darwin", size=(640, 480), fps=30) == CameraInput(
        "device", "0", "avfoundation", (("video_size", "640x480"), ("framerate", "30"))
    )
    assert camera_input("USB Camera", platform="win32").target == "video=USB Camera"
    with pytest.raises(
        MediaError, match=r"camera 99: no such file or camera device \(/dev/video99\)"
    ):
        camera_input("99", platform="linux")
    with pytest.raises(MediaError, match="no camera input known for this platform"):
        camera_input(str(tmp_path / "missing"), platform="plan9")


def test_newest_frame_wins():
    slot = NewestFrame()
    for index in range(3):
        slot.put(np.full((2, 2, 3), index, np.uint8), float(index))
    frame, captured = slot.take()
    assert frame[0, 0, 0] == 2 and captured == 2.0
    assert (slot.received, slot.dropped) == (3, 2)
    threading.Timer(0.05, slot.end).start()
    assert slot.take() is None


def test_file_plays_at_its_rate_and_drops_frames_when_behind(clip: Path):
    started = time.monotonic()
    with Camera(camera_input(str(clip))) as camera:
        frames = [frame for frame, _ in camera]
    assert time.monotonic() - started >= 0.36  # the last frame is due 9/25 s after the first
    assert len(frames) + camera.slot.dropped == 10
    assert frames[-1].shape == (64, 96, 3)

    with Camera(camera_input(str(clip)), max_side=48) as camera:
        taken = []
        for frame, _ in camera:
            taken.append(frame)
            time.sleep(0.15)  # slower than the file: frames that come meanwhile are dropped
    assert camera.slot.dropped > 0
    assert len(taken) + camera.slot.dropped == camera.slot.received == 10
    assert taken[0].shape == (32, 48, 3)


def test_pacing_wait_survives_passing_its_time_between_reads(monkeypatch: pytest.MonkeyPatch):
    """A busy machine passes the due time between the loop's check and the sleep: the
    wait ends instead of asking for a negative sleep (it once ended the camera thread)."""
    clock = iter([0.996, 1.5])  # due at 1.0: the first read just before it, the next after
    slept: list[float] = []
    monkeypatch.setattr(camera_module.time, "monotonic", lambda: next(clock))
    monkeypatch.setattr(camera_module.time, "sleep", slept.append)
    camera_module._wait_until(1.0, threading.Event())
    assert slept == [pytest.approx(0.004)]  # the time left at the first read, then done
    stopped = threading.Event()
    stopped.set()
    camera_module._wait_until(1e9, stopped)  # stop set: no wait at all
    assert len(slept) == 1


def test_unreadable_input_is_one_line(tmp_path: Path):
    path = tmp_path / "notes.mp4"
    path.write_text("not a video\n")
    with pytest.raises(MediaError, match=r"camera .*notes.mp4: cannot open"):
        Camera(camera_input(str(path)))


def test_recording_keeps_the_times_frames_were_made(tmp_path: Path):
    recording = Recording(tmp_path / "live.mp4", 30)
    made = [100.0, 100.1, 100.25, 100.3]
    for index, moment in enumerate(made):
        recording.write(pattern_frame(index, (64, 64)), moment)
    recording.close()
    with VideoReader(tmp_path / "live.mp4") as reader:
        times = [time for _, time in reader.timed_frames()]
    assert times == [Fraction(0), Fraction(1, 10), Fraction(1, 4), Fraction(3, 10)]
    empty = Recording(tmp_path / "empty.mp4", None)
    empty.close()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["live.mp4"]


def test_virtual_camera_messages(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    with pytest.raises(TPSMMError) as error:
        VirtualCamera(64, 30)
    assert str(error.value) == LIVE_EXTRA_MISSING
    monkeypatch.undo()
    pytest.importorskip("pyvirtualcam", reason="the live extra is not installed")
    if list(Path("/sys/devices/virtual/video4linux").glob("video*")):
        pytest.skip("this machine has a v4l2loopback device")
    with pytest.raises(TPSMMError, match=r"no virtual camera to send to .*load v4l2loopback"):
        VirtualCamera(64, 30)
