"""Streaming: the job's peak memory does not grow with the length of the driving video."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import CLI_CODE, SAMPLE_SOURCE, pattern_frame, write_video

# Driving frames are decoded at 384x384 (442 KB each as uint8) and fitted to 64x64. A job
# that kept every decoded frame grows by about 53 MB from 30 to 150 frames (measured by
# keeping them on purpose); the streaming job's peak rises by about 4 MB once, as the
# decoder's and encoder's buffers fill, and then stays flat up to 600 frames. glibc's
# malloc is told to map buffers of 64 KB and more directly, so freed frames go back to the
# system at once and the peak follows the live memory (without it, reuse of freed blocks
# makes the peak wander by some 30 MB).
DRIVING_SIZE = (384, 384)
ALLOWED_GROWTH_MB = 16.0
# One thread: memory does not depend on it, and the runs stay quick on a busy machine.
MEASURE_ENV = {"MALLOC_MMAP_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1"}

PEAK_RSS_CODE = (
    "import resource, runpy, sys\n"
    "status = 0\n"
    "try:\n"
    f"    exec({CLI_CODE!r})\n"
    "except SystemExit as exit:\n"
    "    status = exit.code\n"
    "peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024\n"
    "print('PEAK', status, peak)\n"
)


def peak_rss_mb(args: list[object]) -> float:
    """Peak resident memory (MB, Linux ru_maxrss) of ``tpsmm ARGS`` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_CODE, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **MEASURE_ENV},
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("PEAK ")]
    assert lines, done.stderr
    _, status, peak = lines[-1].split()
    assert status == "0", done.stderr
    return float(peak)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="ru_maxrss in KB is Linux's")
@pytest.mark.parametrize(
    ("short", "long", "extra"),
    [
        pytest.param(30, 150, (), id="30-150"),
        # Frames rendered at 256x256 from the source at its own resolution (--resolution).
        pytest.param(30, 150, ("--resolution", 256), id="30-150-resolution"),
        pytest.param(100, 600, (), id="100-600", marks=pytest.mark.slow),
    ],
)
def test_peak_memory_does_not_grow_with_video_length(tiny_checkpoint, tmp_path, short, long, extra):
    peaks = {}
    for count in (short, long):
        driving = write_video(
            tmp_path / f"driving-{count}.mp4",
            (pattern_frame(i, DRIVING_SIZE) for i in range(count)),
            audio=True,
        )
        output = tmp_path / f"out-{count}.mp4"
        args = ["animate", "--source", SAMPLE_SOURCE, "--driving", driving, "-o", output]
        args += ["--checkpoint", tiny_checkpoint, "--batch-size", 8, "--quiet", *extra]
        peaks[count] = peak_rss_mb(args)
        assert output.is_file()
    growth = peaks[long] - peaks[short]
    assert growth < ALLOWED_GROWTH_MB, json.dumps(peaks)


def test_peak_rss_code_reports_failures(tmp_path: Path):
    """The measuring wrapper sees the command's exit status (so a failed run cannot pass)."""
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS_CODE, "animate", "--source", tmp_path / "nope.png"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "PEAK 2 " in done.stdout
