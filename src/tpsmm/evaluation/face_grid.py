"""The picture grid of ``tpsmm benchmark-faces``: blocks of two rows under a title line.

A cross-identity block shows the source, then the driving frames at a few evenly spaced
times over the results at those times; a reconstruction block the video's first frame
(the source), then its frames over their reconstructions. Cells are the model's frames
(S x S pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["GridBlock", "draw_grid"]

TITLE_HEIGHT = 14


@dataclass(frozen=True)
class GridBlock:
    """One block: ``title``, then ``first`` above an empty cell, followed by ``top``
    (N, S, S, 3) uint8 over ``bottom`` (N, S, S, 3) uint8."""

    title: str
    first: np.ndarray
    top: np.ndarray
    bottom: np.ndarray


def draw_grid(blocks: Sequence[GridBlock]) -> Image.Image:
    """The grid of ``blocks`` (at least one), white where a block has fewer frames."""
    size = blocks[0].first.shape[0]
    columns = 1 + max(len(block.top) for block in blocks)
    block_height = TITLE_HEIGHT + 2 * size
    grid = Image.new("RGB", (columns * size, len(blocks) * block_height), "white")
    draw = ImageDraw.Draw(grid)
    for index, block in enumerate(blocks):
        y = index * block_height
        draw.text((2, y + 1), block.title, fill="black")
        y += TITLE_HEIGHT
        grid.paste(Image.fromarray(block.first), (0, y))
        for column, (top, bottom) in enumerate(zip(block.top, block.bottom, strict=True), 1):
            grid.paste(Image.fromarray(top), (column * size, y))
            grid.paste(Image.fromarray(bottom), (column * size, y + size))
    return grid
