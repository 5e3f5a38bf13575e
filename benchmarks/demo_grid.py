"""A still grid of ``tpsmm demo``: driving frames above, the animated source below.

Runs ``tpsmm demo`` (side by side: source | driving | result, each a square of the
model's frame size) with the given checkpoint into a temporary folder, and writes a PNG
whose top row is the chosen driving frames (after an empty cell) and whose bottom row is
the source followed by the animated frames at the same indices: the picture in
benchmarks/RESULTS.md.

    python benchmarks/demo_grid.py --out benchmarks/demo-model-sample.png
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from tpsmm.media import read_video

DEFAULT_FRAMES = (0, 40, 80, 120, 140, 160)


def grid(side_by_side: np.ndarray, indices: tuple[int, ...]) -> np.ndarray:
    """The grid from (T, S, 3S, 3) side-by-side frames; returns (2S, (n+1)S, 3) uint8."""
    size = side_by_side.shape[1]
    source = side_by_side[0, :, :size]
    top = [np.full_like(source, 255)] + [side_by_side[i, :, size : 2 * size] for i in indices]
    bottom = [source] + [side_by_side[i, :, 2 * size :] for i in indices]
    return np.concatenate([np.concatenate(top, axis=1), np.concatenate(bottom, axis=1)], axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="demo", help="the model (default: demo)")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--frames", type=int, nargs="+", default=list(DEFAULT_FRAMES))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="demo-grid-") as folder:
        frames_dir = Path(folder) / "frames"
        command = [sys.executable, "-m", "tpsmm.cli", "demo", "--checkpoint", args.checkpoint]
        command += ["--side-by-side", "--output", str(frames_dir), "--quiet"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)  # not its summary line
        frames = read_video(frames_dir)
    if max(args.frames) >= len(frames):
        parser.error(f"the demo has {len(frames)} frames; --frames must be below that")
    Image.fromarray(grid(frames, tuple(args.frames))).save(args.out)
    print(f"wrote {args.out} ({len(args.frames)} frames of {len(frames)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
