"""A small still grid from a grid of benchmarks/highres_quality.py (``grid-*.png``: one
row per clip, true | bicubic | highres, each cell the clip's size): one square crop per
chosen row, at the frames' own pixels (nothing resized, so that sharpness, seams and
halos show as they are).

    python benchmarks/highres_grid.py build/hq-faces48/grid-faces-512.png \\
        benchmarks/highres-faces-512.png --crop 0:60:150 3:150:130 4:90:140 --side 240
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("grid", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--cell", type=int, default=512, help="a cell's side in the grid")
    parser.add_argument("--columns", type=int, default=3)
    parser.add_argument(
        "--crop", nargs="+", required=True, metavar="ROW:TOP:LEFT", help="the crops' corners"
    )
    parser.add_argument("--side", type=int, default=240, help="the crops' side")
    parser.add_argument("--gap", type=int, default=4, help="white pixels between cells")
    args = parser.parse_args()
    grid = np.asarray(Image.open(args.grid).convert("RGB"))
    side, gap = args.side, args.gap
    rows = []
    for crop in args.crop:
        row, top, left = (int(value) for value in crop.split(":"))
        line = np.full((side, args.columns * (side + gap) - gap, 3), 255, np.uint8)
        for column in range(args.columns):
            y, x = row * args.cell + top, column * args.cell + left
            line[:, column * (side + gap) : column * (side + gap) + side] = grid[
                y : y + side, x : x + side
            ]
        rows.append(line)
        rows.append(np.full((gap, line.shape[1], 3), 255, np.uint8))
    Image.fromarray(np.concatenate(rows[:-1])).save(args.out, optimize=True)
    print(f"{args.out}: {args.out.stat().st_size / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
