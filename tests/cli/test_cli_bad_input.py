"""Bad input ends ``tpsmm animate`` with one line, a non-zero status and no output left."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest
import torch
from cli_helpers import SAMPLE_DRIVING, SAMPLE_SOURCE, leftovers, pattern_frame
from PIL import Image

from tpsmm.animation import pipeline
from tpsmm.errors import TPSMMError


class CodeRunningPayload:
    """Unpickling this (without weights_only) would create ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def empty_avi(path: Path) -> Path:
    """A container with a video stream and no frames."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25, time_base=Fraction(1, 25))
        stream.width, stream.height = 64, 64
        container.start_encoding()
    return path


def audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        container.start_encoding()
    return path


def truncated(source: Path, path: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def garbage(path: Path) -> Path:
    path.write_bytes(b"\x00not a real file\xff" * 64)
    return path


# Each case: (name, build(tmp, fixtures) -> {flag: value} overrides, expected text in the error).
Case = tuple[str, Callable[[Path, dict], dict], str]
CASES: list[Case] = [
    ("missing source", lambda t, f: {"--source": t / "nope.png"}, "no such file"),
    ("missing driving", lambda t, f: {"--driving": t / "nope.mp4"}, "no such file"),
    ("unreadable source", lambda t, f: {"--source": garbage(t / "bad.png")}, "bad.png"),
    ("unreadable driving", lambda t, f: {"--driving": garbage(t / "bad.mp4")}, "bad.mp4"),
    ("video without frames", lambda t, f: {"--driving": empty_avi(t / "e.avi")}, "no decodable"),
    ("audio only", lambda t, f: {"--driving": audio_only(t / "a.m4a")}, "no video stream"),
    ("image as video", lambda t, f: {"--driving": SAMPLE_SOURCE}, "is an image, not a video"),
    ("video as image", lambda t, f: {"--source": SAMPLE_DRIVING}, "is a video, not an image"),
    ("unknown mode", lambda t, f: {"--mode": "sideways"}, "unknown mode 'sideways'"),
    ("unknown fit", lambda t, f: {"--fit": "zoom"}, "unknown fit mode 'zoom'"),
    ("unknown dtype", lambda t, f: {"--dtype": "int8"}, "unknown dtype 'int8'"),
    ("unknown device", lambda t, f: {"--device": "tpu"}, "unknown device 'tpu'"),
    ("bad batch size", lambda t, f: {"--batch-size": 0}, "--batch-size must be"),
    ("unknown output type", lambda t, f: {"--output": t / "out" / "r.xyz"}, "unsupported output"),
    ("output folder missing", lambda t, f: {"--output": t / "no" / "r.mp4"}, "does not exist"),
    ("output over driving", lambda t, f: {"--output": SAMPLE_DRIVING}, "would overwrite"),
    ("missing checkpoint", lambda t, f: {"--checkpoint": t / "nope.tar"}, "does not exist"),
    (
        "truncated checkpoint",
        lambda t, f: {"--checkpoint": truncated(f["tiny"], t / "cut.pth.tar")},
        "truncated",
    ),
    ("foreign checkpoint", lambda t, f: {"--checkpoint": garbage(t / "x.pth.tar")}, "x.pth.tar"),
    (
        "checkpoint of a list",
        lambda t, f: {"--checkpoint": _saved([1, 2, 3], t / "list.pth.tar")},
        "holds a list",
    ),
    (
        "checkpoint without networks",
        lambda t, f: {"--checkpoint": _saved({"w": torch.zeros(2)}, t / "none.pth.tar")},
        "holds no TPSMM networks",
    ),
    (
        "checkpoint shapes do not fit the config",
        lambda t, f: {"--config": "mgif-256"},
        "the config mgif-256",
    ),
    ("unknown config", lambda t, f: {"--config": "vox-512"}, "neither a preset"),
    (
        "avd without an AVD network",
        lambda t, f: {"--checkpoint": f["no_avd"], "--mode": "avd"},
        "avd mode needs an AVD network",
    ),
]


def _saved(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def base_args(tmp_path: Path, checkpoint: Path) -> dict[str, object]:
    return {
        "--source": SAMPLE_SOURCE,
        "--driving": SAMPLE_DRIVING,
        "--output": tmp_path / "out" / "result.mp4",
        "--checkpoint": checkpoint,
        "--max-frames": 2,
    }


def flatten(args: dict[str, object]) -> list[object]:
    return [item for pair in args.items() for item in pair]


def assert_one_line_failure(result, expected: str) -> None:
    assert result.status == 2, (result.out, result.err)
    assert "Traceback" not in result.err
    assert len(result.error_lines) == 1, result.err
    assert result.error_lines[0].startswith("tpsmm animate: error: ")
    assert expected in result.err


@pytest.mark.parametrize(("name", "build", "expected"), CASES, ids=[case[0] for case in CASES])
def test_bad_input(
    run_cli, tiny_checkpoint, tiny_checkpoint_no_avd, tmp_path, name, build, expected
):
    (tmp_path / "out").mkdir()
    fixtures = {"tiny": tiny_checkpoint, "no_avd": tiny_checkpoint_no_avd}
    args = {**base_args(tmp_path, tiny_checkpoint), **build(tmp_path, fixtures)}
    result = run_cli("animate", *flatten(args))
    assert_one_line_failure(result, expected)
    assert leftovers(tmp_path / "out") == []
    assert SAMPLE_DRIVING.is_file()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_gpu(run_cli, tiny_checkpoint, tmp_path):
    (tmp_path / "out").mkdir()
    args = {**base_args(tmp_path, tiny_checkpoint), "--device": "cuda"}
    assert_one_line_failure(run_cli("animate", *flatten(args)), "no CUDA GPU")


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy-pickle"])
def test_code_in_checkpoint_is_never_run(run_cli, tmp_path, legacy):
    marker = tmp_path / "marker"
    checkpoint = tmp_path / "evil.pth.tar"
    payload = {"kp_detector": CodeRunningPayload(marker)}
    torch.save(payload, checkpoint, _use_new_zipfile_serialization=not legacy)
    (tmp_path / "out").mkdir()
    result = run_cli("animate", *flatten(base_args(tmp_path, checkpoint)))
    assert_one_line_failure(result, "refusing checkpoint")
    assert not marker.exists()
    assert leftovers(tmp_path / "out") == []
    # The payload is real: an unsafe load would have run it.
    pickle.loads(pickle.dumps(CodeRunningPayload(tmp_path / "proof")))
    assert (tmp_path / "proof").exists()


@pytest.mark.parametrize("output", ["result.mp4", "result.gif", "frames"])
def test_failure_midway_leaves_no_output(run_cli, tiny_checkpoint, tmp_path, monkeypatch, output):
    original = pipeline.VideoAnimator.animate_batch
    calls = []

    def failing(self, frames, *rest):
        calls.append(len(frames))
        if len(calls) == 2:
            raise TPSMMError("simulated failure in the second batch")
        return original(self, frames, *rest)

    monkeypatch.setattr(pipeline.VideoAnimator, "animate_batch", failing)
    (tmp_path / "out").mkdir()
    args = {
        **base_args(tmp_path, tiny_checkpoint),
        "--output": tmp_path / "out" / output,
        "--max-frames": 4,
        "--batch-size": 2,
    }
    result = run_cli("animate", *flatten(args))
    assert_one_line_failure(result, "simulated failure")
    assert calls == [2, 2]
    assert leftovers(tmp_path / "out") == []


def test_interrupt_leaves_no_output(run_cli, tiny_checkpoint, tmp_path, monkeypatch):
    def interrupted(self, frames, *rest):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline.VideoAnimator, "animate_batch", interrupted)
    (tmp_path / "out").mkdir()
    # Called from Python, main() passes the interrupt on after its cleanup (the command
    # line's status 130 is tested with real signals in test_cli_signals.py).
    with pytest.raises(KeyboardInterrupt):
        run_cli("animate", *flatten(base_args(tmp_path, tiny_checkpoint)))
    assert leftovers(tmp_path / "out") == []


def test_bad_video_in_a_long_run_is_reported(run_cli, tiny_checkpoint, tmp_path):
    """A driving video whose frames change size mid-way (a folder) fails cleanly."""
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(pattern_frame(0)).save(folder / "000.png")
    Image.fromarray(pattern_frame(1, (32, 32))).save(folder / "001.png")
    (tmp_path / "out").mkdir()
    args = {**base_args(tmp_path, tiny_checkpoint), "--driving": folder, "--batch-size": 1}
    result = run_cli("animate", *flatten(args))
    assert_one_line_failure(result, "001.png")
    assert leftovers(tmp_path / "out") == []
