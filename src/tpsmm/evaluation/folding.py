"""Folding of a deformation: where its Jacobian determinant is not positive.

The model's deformation (``model.motion_from_source(...)["deformation"]``, (B, h, w, 2)
at the dense motion network's resolution) maps each output pixel to the source point it
is sampled from, in normalised coordinates (x, y in [-1, 1], grid nodes at
``-1 + 2 j / (w - 1)``: align_corners=True, as :func:`tpsmm.geometry.coordinate_grid`).
Where the map keeps its orientation, neighbouring output pixels come from neighbouring
source points in the same order; where its Jacobian determinant is negative the source
is mirrored locally (a fold: the image tears and doubles back), and where it is 0 an
area collapses onto a line.

:func:`jacobian_determinant` takes the determinant at the centre of each grid cell (the
Jacobian of the bilinear interpolation there: each derivative the mean of the cell's two
edge differences), divided by the identity map's, so that it reads as a local area ratio
(1: no change of area, 0.5: the output shows a source area half as large, <= 0:
folded). :func:`folded_share` is the share of the cells inside a region whose
determinant is <= 0. :func:`hull_mask` gives the region of a face: the cells whose
centres lie inside the convex hull of its 68 landmarks (pixels of a square frame of
any size, mapped to the grid by the same align_corners=True convention).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["convex_hull", "folded_share", "hull_mask", "jacobian_determinant"]


def jacobian_determinant(deformation: Tensor) -> Tensor:
    """The Jacobian determinant of sampling grids at their cells' centres.

    Args:
        deformation: (B, h, w, 2) sampling coordinates (x, y) in [-1, 1], h, w >= 2.

    Returns:
        (B, h - 1, w - 1) float64 on the CPU, relative to the identity grid's (which gives
        1 everywhere); <= 0 where the map folds.
    """
    if deformation.dim() != 4 or deformation.shape[-1] != 2 or min(deformation.shape[1:3]) < 2:
        raise ValueError(
            f"expected (B, h, w, 2) grids with h, w >= 2, got {tuple(deformation.shape)}"
        )
    grid = deformation.detach().to("cpu", torch.float64)
    height, width = grid.shape[1:3]
    along_rows = grid[:, :, 1:] - grid[:, :, :-1]  # (B, h, w - 1, 2): d/d column
    along_columns = grid[:, 1:] - grid[:, :-1]  # (B, h - 1, w, 2): d/d row
    d_column = (along_rows[:, 1:] + along_rows[:, :-1]) / 2
    d_row = (along_columns[:, :, 1:] + along_columns[:, :, :-1]) / 2
    determinant = d_column[..., 0] * d_row[..., 1] - d_column[..., 1] * d_row[..., 0]
    identity = (2 / (width - 1)) * (2 / (height - 1))
    return determinant / identity


def convex_hull(points: np.ndarray) -> np.ndarray:
    """The convex hull of (N, 2) points, (M, 2) vertices in counter-clockwise order (in
    axes with y up; clockwise on screen), by Andrew's monotone chain; fewer than 3
    vertices when the points are collinear."""
    unique = sorted({(float(x), float(y)) for x, y in np.asarray(points, np.float64)})
    if len(unique) < 3:
        return np.array(unique, dtype=np.float64).reshape(-1, 2)

    def chain(ordered: list[tuple[float, float]]) -> list[tuple[float, float]]:
        kept: list[tuple[float, float]] = []
        for point in ordered:
            while len(kept) >= 2 and _cross(kept[-2], kept[-1], point) <= 0:
                kept.pop()
            kept.append(point)
        return kept[:-1]

    return np.array(chain(unique) + chain(unique[::-1]), dtype=np.float64)


def _cross(origin, first, second) -> float:
    return (first[0] - origin[0]) * (second[1] - origin[1]) - (first[1] - origin[1]) * (
        second[0] - origin[0]
    )


def hull_mask(landmarks: np.ndarray, frame_size: int, grid_shape: tuple[int, int]) -> np.ndarray:
    """The grid cells whose centres lie inside the landmarks' convex hull (edges count).

    Args:
        landmarks: (N, 2) pixel coordinates (x, y) in a ``frame_size`` square frame.
        frame_size: that frame's side in pixels.
        grid_shape: (h, w) of the deformation; the cells are (h - 1, w - 1).

    Returns:
        (h - 1, w - 1) bool; all False when the hull has no area.
    """
    height, width = grid_shape
    hull = convex_hull(landmarks)
    if len(hull) < 3:
        return np.zeros((height - 1, width - 1), dtype=bool)
    # cell centres in pixels: normalised -1 + 2 (j + 1/2) / (w - 1), then (n + 1) (S - 1) / 2
    columns = (np.arange(width - 1) + 0.5) / (width - 1) * (frame_size - 1)
    rows = (np.arange(height - 1) + 0.5) / (height - 1) * (frame_size - 1)
    x, y = np.meshgrid(columns, rows)
    inside = np.ones(x.shape, dtype=bool)
    for start, end in zip(hull, np.roll(hull, -1, axis=0), strict=True):
        edge = end - start
        inside &= edge[0] * (y - start[1]) - edge[1] * (x - start[0]) >= 0
    return inside


def folded_share(determinant: np.ndarray | Tensor, region: np.ndarray) -> float | None:
    """The share of the ``region`` cells (bool, the determinant's shape) whose
    determinant is <= 0; None for an empty region."""
    values = np.asarray(determinant)[np.asarray(region, dtype=bool)]
    if values.size == 0:
        return None
    return float((values <= 0).mean())
