"""Training visualisations: a PNG grid of one batch, drawn with NumPy and Pillow.

Columns are samples; rows are, for the generator: the source with its keypoints, the
driving frame with its keypoints, the deformed source (the source warped by the predicted
flow), each occlusion mask (coarse to fine, grey, upsampled to the frame size) and the
prediction. Keypoint ``i`` of ``N`` has the colour of the ``gist_rainbow`` colormap at
``i / N`` (approximated in HSV), as in the authors' visualiser.
"""

from __future__ import annotations

import colorsys
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import Tensor

from tpsmm.config import VisualizerParams
from tpsmm.media import save_image
from tpsmm.media import to_uint8 as media_to_uint8
from tpsmm.media.tensors import tensor_to_frames

__all__ = [
    "Row",
    "draw_keypoints",
    "generator_rows",
    "grid_image",
    "keypoint_colors",
    "to_uint8",
]

#: One row of the grid: images (B, 3, H, W) in [0, 1] (or masks (B, 1, h, w)) and
#: optional keypoints (B, N, 2) in [-1, 1] to draw on them.
Row = tuple[Tensor, Tensor | None]


def to_uint8(images: Tensor, size: tuple[int, int] | None = None) -> np.ndarray:
    """(B, C, h, w) in [0, 1] with C = 1 or 3 -> (B, H, W, 3) uint8 (the media layer's
    conversion, :func:`tpsmm.media.to_uint8`), resized (bilinear) to ``size`` = (H, W)
    when given; one channel becomes grey."""
    images = images.detach().float().cpu()
    if size is not None and tuple(images.shape[-2:]) != tuple(size):
        images = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
    if images.shape[1] == 1:
        images = images.expand(-1, 3, -1, -1)
    return media_to_uint8(tensor_to_frames(images))


def keypoint_colors(count: int) -> list[tuple[int, int, int]]:
    """``count`` RGB colours along a rainbow (red, yellow, green, cyan, blue, magenta),
    like matplotlib's ``gist_rainbow`` at ``i / count``."""
    colors = []
    for i in range(count):
        r, g, b = colorsys.hsv_to_rgb(0.83 * i / max(count, 1), 1.0, 1.0)
        colors.append((round(255 * r), round(255 * g), round(255 * b)))
    return colors


def draw_keypoints(image: np.ndarray, keypoints: np.ndarray, radius: int = 5) -> np.ndarray:
    """Filled discs at ``keypoints`` on a copy of ``image``.

    Args:
        image: (H, W, 3) uint8.
        keypoints: (N, 2) (x, y) in [-1, 1] (align_corners convention).
        radius: disc radius in pixels.
    """
    height, width = image.shape[:2]
    picture = Image.fromarray(image)
    draw = ImageDraw.Draw(picture)
    for (x, y), color in zip(keypoints, keypoint_colors(len(keypoints)), strict=True):
        col = (float(x) + 1) / 2 * (width - 1)
        row = (float(y) + 1) / 2 * (height - 1)
        draw.ellipse((col - radius, row - radius, col + radius, row + radius), fill=color)
    return np.asarray(picture)


def grid_image(
    rows: Sequence[Row],
    *,
    kp_size: int = 5,
    draw_border: bool = True,
    max_samples: int = 6,
) -> np.ndarray:
    """One image with a row per entry of ``rows`` and a column per sample.

    Every cell is resized to the size of the first row's images. Returns
    (R*H, S*W, 3) uint8 with S = min(batch, max_samples); with ``draw_border`` each cell
    has a one-pixel white frame.
    """
    size = tuple(rows[0][0].shape[-2:])
    samples = min(rows[0][0].shape[0], max_samples)
    lines = []
    for images, keypoints in rows:
        cells = to_uint8(images[:samples], size)  # type: ignore[arg-type]
        if keypoints is not None:
            points = keypoints[:samples].detach().float().cpu().numpy()
            cells = np.stack(
                [draw_keypoints(c, p, kp_size) for c, p in zip(cells, points, strict=True)]
            )
        if draw_border:
            cells = cells.copy()
            cells[:, [0, -1], :] = 255
            cells[:, :, [0, -1]] = 255
        lines.append(np.concatenate(list(cells), axis=1))
    return np.concatenate(lines, axis=0)


def generator_rows(source: Tensor, driving: Tensor, generated: dict) -> list[Row]:
    """The generator stage's rows: source + keypoints, driving + keypoints, deformed
    source, occlusion masks (coarse to fine), prediction."""
    rows: list[Row] = [
        (source, generated.get("kp_source")),
        (driving, generated.get("kp_driving")),
    ]
    if generated.get("deformed") is not None:
        rows.append((generated["deformed"], None))
    rows.extend((mask, None) for mask in generated.get("occlusion_maps") or [])
    if generated.get("prediction") is not None:
        rows.append((generated["prediction"], None))
    return rows


def visualize(rows: Sequence[Row], params: VisualizerParams, path: str | os.PathLike) -> None:
    """Draw ``rows`` with the config's visualiser settings and save them at ``path`` (its
    folder is created)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_image(path, grid_image(rows, kp_size=params.kp_size, draw_border=params.draw_border))
