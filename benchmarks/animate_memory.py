"""Peak memory of `tpsmm animate` against the length of the driving video.

Writes driving videos of each length (the bundled sample's frames, fitted to the model's
size and repeated; H.264, 25 fps), runs the real command on each in a child process, and
reads the child's peak resident memory (``os.wait4``'s ``ru_maxrss``).

    python benchmarks/animate_memory.py                       # 100 and 1000 frames, float32
    python benchmarks/animate_memory.py --frames 100 1000 --dtype bfloat16
    python benchmarks/animate_memory.py --checkpoint demo --size 128 --resolution 512

Weights: --checkpoint, else the reference weights (see animate_speed.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from animate_speed import ASSETS, reference_checkpoint
from tpsmm.media import VideoReader, VideoWriter, fit_frames, read_video


def write_driving_video(path: Path, frames: int, size: int) -> None:
    """The sample's frames at ``size``, cycled forwards and backwards to ``frames``."""
    sample = fit_frames(read_video(ASSETS / "driving.mp4"), size)
    cycle = list(sample) + list(sample[::-1])
    with VideoWriter(path, 25) as writer:
        for index in range(frames):
            writer.write(cycle[index % len(cycle)])


def run_animate(arguments: list[str]) -> tuple[float, float]:
    """Run ``tpsmm animate ARGUMENTS`` in a child; returns (peak RSS in MiB, seconds)."""
    command = [sys.executable, "-m", "tpsmm.cli", "animate", *arguments]
    start = time.perf_counter()
    child = subprocess.Popen(command)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"tpsmm animate failed with status {child.returncode}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", help="a file or a bundled name (default: reference)")
    parser.add_argument("--frames", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--size", type=int, default=256, help="the driving video's size")
    parser.add_argument("--resolution", help="tpsmm animate --resolution (default: none)")
    args = parser.parse_args()

    checkpoint = args.checkpoint or reference_checkpoint()
    print(
        f"| driving frames | peak RSS (MiB) | seconds | dtype {args.dtype}, batch {args.batch_size}"
        f"{f', resolution {args.resolution}' if args.resolution else ''} |"
    )
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for count in args.frames:
            driving = Path(folder) / f"driving{count}.mp4"
            write_driving_video(driving, count, args.size)
            with VideoReader(driving) as reader:
                assert reader.num_frames == count, reader.num_frames
            output = Path(folder) / f"out{count}.mp4"
            peak, seconds = run_animate(
                [
                    "--source", str(ASSETS / "source.png"),
                    "--driving", str(driving),
                    "--checkpoint", str(checkpoint),
                    "--output", str(output),
                    "--dtype", args.dtype,
                    "--batch-size", str(args.batch_size),
                    "--device", "cpu",
                    "--quiet",
                    *(["--resolution", args.resolution] if args.resolution else []),
                ]
            )  # fmt: skip
            print(f"| {count} | {peak:.0f} | {seconds:.0f} | |", flush=True)


if __name__ == "__main__":
    main()
