"""Every write failure is one line naming the path, exit status 2, no traceback, found
before the slow work: a folder the user may not write (the commands run as an
unprivileged user, since root bypasses permissions), a read-only file system, a full
one (before the job, and filling up during it), and a path that is a file.

File systems are real tmpfs mounts in a private mount namespace (``unshare``); where
the machine does not allow that, those cases are skipped with the reason.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import SAMPLE_SOURCE, pattern_frame, write_video

NOBODY = 65534
NOBODY_PREFIX = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
# Runs several `tpsmm` commands in one process (one start-up) and prints, as JSON, each
# one's exit status and stderr, then what the folders named after them hold.
RUNNER = """
import contextlib, io, json, os, sys
import tpsmm.cli

results = []
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = tpsmm.cli.main(argv)
    results.append([status, err.getvalue()])
print(json.dumps([results, {folder: sorted(os.listdir(folder)) for folder in sys.argv[2:]}]))
"""
MISSING_CHECKPOINT = "/nonexistent/model.pth.tar"  # found after the output check
HAS_ONNX = importlib.util.find_spec("onnx") is not None


@pytest.fixture(scope="module")
def world(tiny_checkpoint: Path) -> Iterator[Path]:
    """A folder every user can read, holding the inputs: an unprivileged child cannot
    enter pytest's temporary folders (mode 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="tpsmm-write-errors-"))
    folder.chmod(0o755)
    shutil.copy(SAMPLE_SOURCE, folder / "face.png")
    shutil.copy(tiny_checkpoint, folder / "tiny.pth.tar")
    write_video(folder / "short.mp4", (pattern_frame(i) for i in range(4)))
    write_video(folder / "long.mp4", (pattern_frame(i) for i in range(40)))
    (folder / "raw").mkdir()
    for number in range(2):  # raw videos for prepare-videos
        write_video(folder / "raw" / f"v{number}.mp4", (pattern_frame(i) for i in range(40)))
    (folder / "pairs.csv").write_text(f"{folder / 'face.png'},{folder / 'short.mp4'}\n")
    for entry in folder.rglob("*"):
        entry.chmod(0o755 if entry.is_dir() else 0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def commands(world: Path, target: Path) -> dict[str, list[str]]:
    """Each command, writing into the folder ``target``; the path each must name."""
    animate = ["animate", "--source", str(world / "face.png"), "--driving",
               str(world / "short.mp4"), "--checkpoint", MISSING_CHECKPOINT, "--output"]  # fmt: skip
    expected = {
        str(target / "out.mp4"): [*animate, str(target / "out.mp4")],
        str(target / "out.gif"): [*animate, str(target / "out.gif")],
        str(target / "frames"): [*animate, str(target / "frames") + "/"],
        str(target / "results"): [
            "animate",
            "--pairs",
            str(world / "pairs.csv"),
            "--out-dir",
            str(target / "results"),
            "--checkpoint",
            MISSING_CHECKPOINT,
        ],
        str(target / "run"): [
            "train",
            "--config",
            "vox-256",
            "--data",
            "/nonexistent/data",
            "--out",
            str(target / "run"),
            "--no-pretrained-vgg",
        ],
        str(target / "eval"): [
            "reconstruct",
            "--checkpoint",
            MISSING_CHECKPOINT,
            "--data",
            "/nonexistent/data",
            "--out",
            str(target / "eval"),
        ],
        str(target / "dataset"): [
            "prepare-videos",
            str(world / "raw"),
            str(target / "dataset"),
            "--kind",
            "box",
            "--box",
            "0,0,32,32",
            "--min-frames",
            "2",
        ],
    }
    if HAS_ONNX:
        expected[str(target / "onnx")] = [
            "export", "--checkpoint", MISSING_CHECKPOINT, "--out", str(target / "onnx"),
        ]  # fmt: skip
    return expected


def run_commands(
    argvs: list[list[str]], prefix: tuple[str, ...] = (), listed: Path | None = None, **kwargs
) -> tuple[list[list], list[str]]:
    """Run the commands in one child process: ([[status, stderr], ...], the names in
    ``listed`` afterwards)."""
    folders = [] if listed is None else [str(listed)]
    command = [*prefix, sys.executable, "-c", RUNNER, json.dumps(argvs), *folders]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900, **kwargs)
    assert result.returncode == 0, result.stderr
    results, listings = json.loads(result.stdout)
    return results, listings.get(str(listed), [])


def check_one_line_each(results: list[list], expected: dict[str, list[str]], reason: str) -> None:
    for (status, err), (path, argv) in zip(results, expected.items(), strict=True):
        command = f"tpsmm {argv[0]}"
        assert status == 2, (argv, err)
        assert "Traceback" not in err
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert lines[0].startswith(f"{command}: error: {path}: cannot write in "), err
        assert lines[0].endswith(f"({reason})"), err


def unprivileged_problem(prefix: tuple[str, ...], python: str, cwd: Path) -> str | None:
    """Why ``python`` run through ``prefix`` (as another user) cannot import tpsmm, or
    None when it can: a checkout in a private folder (a root shell's home, mktemp -d;
    mode 0700) is out of another user's reach."""
    try:
        result = subprocess.run(
            [*prefix, python, "-c", "import tpsmm.cli"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=cwd,
        )
    except OSError as error:
        return f"{python}: {error.strerror or error}"
    if result.returncode == 0:
        return None
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else f"status {result.returncode}"


def test_a_checkout_out_of_another_users_reach_is_found(tmp_path):
    """The case of a clone in a private folder (pytest's own temporary folder is mode
    0700): the check above finds it, so the test skips instead of failing."""
    if shutil.which("setpriv") is None or os.geteuid() != 0:
        pytest.skip("cannot run as another user (needs root and setpriv)")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    python = private / "python"
    python.symlink_to(sys.executable)
    assert unprivileged_problem(NOBODY_PREFIX, str(python), Path("/")) is not None


def test_folder_without_write_permission(world):
    """Run as an unprivileged user (uid 65534) in a folder owned by root, mode 0755.
    Skipped with the reason where that user cannot run this checkout's tpsmm (a clone
    in a private folder)."""
    if shutil.which("setpriv") is None:
        pytest.skip("cannot run as another user: setpriv (util-linux) is missing")
    if os.geteuid() != 0:
        pytest.skip("cannot run as another user: the tests do not run as root")
    problem = unprivileged_problem(NOBODY_PREFIX, sys.executable, world)
    if problem is not None:
        pytest.skip(f"uid {NOBODY} cannot run this checkout's tpsmm ({problem})")
    locked = world / "locked"
    locked.mkdir()
    locked.chmod(0o755)
    expected = commands(world, locked)
    home = {**os.environ, "HOME": str(locked)}
    results, _ = run_commands(list(expected.values()), NOBODY_PREFIX, env=home, cwd=world)
    check_one_line_each(results, expected, "Permission denied")
    assert list(locked.iterdir()) == []


def mount_prefix(folder: Path, options: str, fill: bool = False) -> tuple[str, ...]:
    """A command prefix that runs the rest in a private mount namespace with a tmpfs
    mounted on ``folder`` (``fill``: filled up to the last byte first)."""
    filling = ' && (dd if=/dev/zero of="$1/fill" bs=4096 2>/dev/null; true)' if fill else ""
    script = f'mount -t tmpfs -o {options} tmpfs "$1"{filling} && shift && exec "$@"'
    return ("unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", str(folder))


@pytest.fixture(scope="module")
def can_mount(world) -> None:
    probe = world / "mount-probe"
    probe.mkdir(exist_ok=True)
    try:
        result = subprocess.run(
            [*mount_prefix(probe, "size=64k"), "true"], capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        pytest.skip("cannot mount a test file system: the unshare command is missing")
    if result.returncode != 0:
        why = " ".join(result.stderr.split()) or f"status {result.returncode}"
        pytest.skip(f"cannot mount a test file system here (needs CAP_SYS_ADMIN): {why}")


@pytest.mark.usefixtures("can_mount")
@pytest.mark.parametrize(
    ("name", "options", "fill", "reason"),
    [
        ("read-only", "ro,size=1m", False, "Read-only file system"),
        ("full", "size=256k", True, "No space left on device"),  # found before the job
    ],
)
def test_read_only_and_full_file_systems(world, name, options, fill, reason):
    mounted = world / name
    mounted.mkdir()
    expected = commands(world, mounted)
    prefix = mount_prefix(mounted, options, fill)
    results, left = run_commands(list(expected.values()), prefix, mounted)
    check_one_line_each(results, expected, reason)
    assert left == (["fill"] if fill else [])


@pytest.mark.usefixtures("can_mount")
@pytest.mark.parametrize("output", ["out.mp4", "frames/"])
def test_file_system_filling_up_during_the_job(world, output):
    """Room for the checks but not for the output: the write fails in the middle of the
    job, still one line naming the output, and nothing of it is left."""
    mounted = world / f"small-{output.strip('/').replace('.', '-')}"
    mounted.mkdir()
    argv = ["animate", "--source", str(world / "face.png"), "--driving", str(world / "long.mp4"),
            "--checkpoint", str(world / "tiny.pth.tar"), "--output", str(mounted / output)]  # fmt: skip
    size = "size=20k" if output == "frames/" else "size=8k"  # a few PNGs; 40 frames of H.264
    [[status, err]], left = run_commands([argv], mount_prefix(mounted, size), mounted)
    name = mounted / output.strip("/")
    assert status == 2, err
    assert err == f"tpsmm animate: error: {name}: cannot write (No space left on device)\n"
    assert left == []  # nothing of the output, no hidden partial file


@pytest.mark.usefixtures("can_mount")
@pytest.mark.parametrize("command", ["prepare-videos", "export"])
def test_file_system_filling_up_during_the_job_of_workers_or_export(world, command):
    """prepare-videos (two worker processes writing clips) and export (graphs and
    weights): the write fails in the middle, one line naming the output, status 2,
    nothing of it left."""
    if command == "export" and not HAS_ONNX:
        pytest.skip("needs the onnx extra")
    mounted = world / f"small-{command}"
    mounted.mkdir()
    target = mounted / ("dataset" if command == "prepare-videos" else "onnx")
    if command == "prepare-videos":
        argv = ["prepare-videos", str(world / "raw"), str(target), "--kind", "box", "--box",
                "0,0,64,64", "--size", "64", "--min-frames", "2", "--jobs", "2"]  # fmt: skip
    else:
        argv = ["export", "--checkpoint", str(world / "tiny.pth.tar"), "--out", str(target),
                "--modes", "standard"]  # fmt: skip
    [[status, err]], left = run_commands([argv], mount_prefix(mounted, "size=24k"), mounted)
    assert status == 2, err
    assert err == f"tpsmm {command}: error: {target}: cannot write (No space left on device)\n"
    assert left == []


def test_path_that_is_a_file(run_cli, world, tmp_path):
    plain = tmp_path / "notes.txt"
    plain.write_text("not a folder")
    expected = commands(world, plain)
    for path, argv in expected.items():
        result = run_cli(*argv)
        assert result.status == 2, (argv, result.err)
        assert "Traceback" not in result.err
        [line] = result.error_lines
        assert line.startswith(f"tpsmm {argv[0]}: error: {path}"), line
        assert f"{plain} is a file, not a folder" in line, line
