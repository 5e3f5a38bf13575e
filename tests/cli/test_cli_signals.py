"""SIGINT and SIGTERM sent to real ``tpsmm`` processes at several moments: during
start-up (while torch is being imported), in the middle of a job writing each output
type, and between and during pairs. Each must end with one line on stderr, exit status
130 or 143, nothing partial or hidden left, and the pairs already finished kept."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_helpers import SAMPLE_SOURCE, pattern_frame, write_video
from PIL import Image

from tiny_model import save_tiny_checkpoint
from tpsmm.media import VideoReader

# The `tpsmm` command, saying on stdout when it starts importing torch (the slow part
# of start-up) so that the test can signal it exactly then.
STARTUP_CODE = """
import sys
import tpsmm.cli

class SayWhenTorchLoads:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            print("importing torch", flush=True)
            sys.meta_path.remove(self)
        return None

sys.meta_path.insert(0, SayWhenTorchLoads())
sys.exit(tpsmm.cli.main())
"""
CLI_CODE = "import sys, tpsmm.cli; sys.exit(tpsmm.cli.main())"
STATUS = {signal.SIGINT: 130, signal.SIGTERM: 143}
MESSAGE = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated (SIGTERM)"}
LONG_FRAMES = 1500
RAW_FRAMES = 300


def spawn(
    args: list[object], code: str = CLI_CODE, *, group: bool = False
) -> subprocess.Popen[str]:
    """``tpsmm ARGS`` as a child process, its output in pipes; ``group``: in a process
    group of its own (with its workers), as a shell runs a command."""
    command = [sys.executable, "-c", code, *map(str, args)]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=group,
    )


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Poll until ``condition()`` holds (the child must still be running)."""
    deadline = time.monotonic() + 600  # a loaded machine starts torch slowly
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"tpsmm ended (status {process.returncode}) before {what}:\n{out}{err}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def stop(process: subprocess.Popen[str], signum: int) -> tuple[int, str, str]:
    """Send ``signum`` and wait: (status, stdout, stderr)."""
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def hidden(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir() if entry.name.startswith("."))


@pytest.fixture(scope="module")
def long_driving(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64x64 driving video long enough (a minute of work for the tiny model) that a
    signal always lands in the middle of the job."""
    path = tmp_path_factory.mktemp("long") / "long.mp4"
    return write_video(path, (pattern_frame(i) for i in range(LONG_FRAMES)), audio=True)


@pytest.fixture(scope="module")
def short_driving(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 64x64 driving video of 6 frames."""
    path = tmp_path_factory.mktemp("short") / "short.mp4"
    return write_video(path, (pattern_frame(i) for i in range(6)))


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_startup(signum, tiny_checkpoint, tmp_path):
    process = spawn(
        ["animate", "--source", SAMPLE_SOURCE, "--driving", SAMPLE_SOURCE, "--checkpoint",
         tiny_checkpoint, "--output", tmp_path / "out.mp4"],
        STARTUP_CODE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stdout.readline() == "importing torch\n"
    status, _, err = stop(process, signum)
    assert status == STATUS[signum]
    assert err == f"tpsmm animate: {MESSAGE[signum]}\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("signum", "output"),
    [
        (signal.SIGTERM, "out.mp4"),
        (signal.SIGINT, "out.mkv"),
        (signal.SIGTERM, "out.gif"),
        (signal.SIGINT, "frames"),
    ],
)
def test_signal_in_the_middle_of_a_job(signum, output, tiny_checkpoint, long_driving, tmp_path):
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    process = spawn(
        ["animate", "--source", SAMPLE_SOURCE, "--driving", long_driving, "--checkpoint",
         tiny_checkpoint, "--output", out_dir / output, "--quiet"]
    )  # fmt: skip

    def writing() -> bool:  # the hidden temporary output exists (a folder: with frames)
        partial = [entry for entry in out_dir.iterdir() if ".partial-" in entry.name]
        return bool(partial) and (not partial[0].is_dir() or len(list(partial[0].iterdir())) > 3)

    wait_for(writing, process, "the output was being written")
    time.sleep(0.5)  # frames are being encoded (the encoder and muxer buffer them)
    status, out, err = stop(process, signum)
    assert status == STATUS[signum]
    assert err == f"tpsmm animate: {MESSAGE[signum]}\n"
    assert out == ""
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize(
    ("signum", "moment"), [(signal.SIGTERM, "during"), (signal.SIGINT, "between")]
)
def test_signal_during_pairs_keeps_the_finished_ones(
    signum, moment, tiny_checkpoint, short_driving, long_driving, tmp_path
):
    """Pair 1 is short and done; pair 2 is long and being written (``during``) or not
    yet started while the process sleeps in a slow pair-2 input (``between``)."""
    out_dir = tmp_path / "results"
    second = long_driving
    if moment == "between":  # a driving video on a FIFO: opening it blocks until written
        second = tmp_path / "slow.mp4"
        subprocess.run(["mkfifo", second], check=True)
    csv = tmp_path / "pairs.csv"
    csv.write_text(
        f"{SAMPLE_SOURCE},{short_driving},first.mp4\n"
        f"{SAMPLE_SOURCE},{second},second.mp4\n"
        f"{SAMPLE_SOURCE},{long_driving},third.mp4\n"
    )
    process = spawn(
        ["animate", "--pairs", csv, "--out-dir", out_dir, "--checkpoint", tiny_checkpoint]
    )  # fmt: skip
    if moment == "during":
        wait_for(lambda: (out_dir / "first.mp4").exists() and hidden(out_dir), process, "pair 2")
    else:
        wait_for(lambda: (out_dir / "first.mp4").exists(), process, "pair 1")
        time.sleep(0.5)
    assert process.stdout is not None
    status, out, err = stop(process, signum)
    assert status == STATUS[signum]
    assert err == f"tpsmm animate: {MESSAGE[signum]}: 1 of 3 pairs done, their outputs kept\n"
    assert "line 1 (source.png -> short.mp4): wrote" in out
    assert sorted(entry.name for entry in out_dir.iterdir()) == ["first.mp4"]
    with VideoReader(out_dir / "first.mp4") as reader:
        assert len(list(reader)) == 6


def test_signal_during_reconstruct_leaves_no_partial_file(tmp_path):
    """Another command: `tpsmm reconstruct` stopped while writing its strips."""
    root = tmp_path / "data" / "test"
    for video in range(40):
        folder = root / f"video{video:02d}"
        folder.mkdir(parents=True)
        for index in range(6):
            Image.fromarray(pattern_frame(index + video, (32, 32))).save(folder / f"{index}.png")
    checkpoint = save_tiny_checkpoint(tmp_path / "tiny32.pth.tar", frame_size=32)
    out = tmp_path / "eval"
    process = spawn(
        ["reconstruct", "--checkpoint", checkpoint, "--data", tmp_path / "data", "--out", out,
         "--no-progress"]
    )  # fmt: skip
    wait_for(lambda: len(list((out / "png").glob("*.png"))) >= 2, process, "strips were written")
    status, _, err = stop(process, signal.SIGTERM)
    assert status == 143
    assert err == "tpsmm reconstruct: terminated (SIGTERM)\n"
    assert not (out / "report.json").exists()
    every = [entry.name for entry in out.rglob("*")]
    assert [name for name in every if name.startswith(".")] == []
    assert all(name.endswith(".png") for name in every if name != "png")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_while_the_finished_program_exits_kills_it_quietly(signum):
    """After the command's work (here: its --help), a signal that comes while the
    interpreter shuts down (from an atexit callback, as torch's and tqdm's finalizers
    run) kills the process the usual way, with no "Exception ignored" traceback."""
    code = (
        "import atexit, os, signal, sys, tpsmm.cli\n"
        f"atexit.register(lambda: os.kill(os.getpid(), {int(signum)}))\n"
        "sys.exit(tpsmm.cli.main())"
    )
    process = spawn(["synth", "--help"], code)
    out, err = process.communicate(timeout=120)
    assert process.returncode == -signum, err
    assert err == "" and "usage: tpsmm synth" in out


@pytest.fixture(scope="module")
def raw_videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two raw videos for prepare-videos, 320x240, each seconds of work as PNG clips."""
    folder = tmp_path_factory.mktemp("raw")
    for number in range(2):
        frames = (pattern_frame(i + number, (320, 240)) for i in range(RAW_FRAMES))
        write_video(folder / f"v{number}.mp4", frames)
    return folder


@pytest.mark.parametrize(
    ("signum", "to"),
    [(signal.SIGTERM, "process"), (signal.SIGTERM, "group"), (signal.SIGINT, "group")],
)
def test_prepare_videos_with_workers_ends_cleanly(signum, to, raw_videos, tmp_path):
    """`tpsmm prepare-videos --jobs 2` stopped while its workers write clips: by SIGTERM
    to the command (`kill PID`), to its whole group (`timeout`, systemd, `kill -- -PGID`)
    or by Ctrl-C (SIGINT to the group): one line and 130 or 143, no worker traceback, no
    hang, no worker left, and no partial folder."""
    out = tmp_path / "dataset"
    process = spawn(
        ["prepare-videos", raw_videos, out, "--kind", "box", "--box", "0,0,200,200",
         "--size", "256", "--format", "png", "--min-frames", "10", "--jobs", "2"],
        group=True,
    )  # fmt: skip

    def writing() -> bool:  # clips are being written in the staging folder
        staging = list(out.glob(".prepare-partial-*")) if out.exists() else []
        try:
            return (
                any(len(list(clip.iterdir())) > 3 for clip in staging[0].iterdir())
                if staging
                else False
            )
        except (FileNotFoundError, NotADirectoryError):
            # listed, then renamed from its partial name; or a file (the command's
            # write-check probe, .tpsmm-write-check-*), not a clip folder
            return False

    wait_for(writing, process, "clips were being written")
    if to == "group":
        os.killpg(process.pid, signum)
        out_text, err = process.communicate(timeout=120)
        status = process.returncode
    else:
        status, out_text, err = stop(process, signum)
    assert status == STATUS[signum]
    assert err == f"tpsmm prepare-videos: {MESSAGE[signum]}\n"
    assert out_text == ""
    assert not out.exists()  # the folders this run made, emptied, removed
    deadline = time.monotonic() + 30  # the workers are gone (multiprocessing's tracker too)
    while group_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert group_members(process.pid) == []


def group_members(group: int) -> list[str]:
    """The processes still in a process group."""
    found = subprocess.run(["pgrep", "-g", str(group)], capture_output=True, text=True)
    return found.stdout.split()
