"""The folding measure of `tpsmm benchmark-faces` on deformations known in closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tpsmm import geometry
from tpsmm.evaluation.folding import convex_hull, folded_share, hull_mask, jacobian_determinant

#: float64 rounding of a few differences of coordinates in [-1, 1], scaled by (w - 1)^2.
EXACT = 1e-12


def grid(height: int = 9, width: int = 9) -> torch.Tensor:
    """The identity sampling grid (1, h, w, 2), float64."""
    return geometry.coordinate_grid(height, width, dtype=torch.float64)[None]


def test_the_identity_has_determinant_one_and_no_folding():
    determinant = jacobian_determinant(grid(9, 13))
    assert determinant.shape == (1, 8, 12)
    torch.testing.assert_close(determinant, torch.ones_like(determinant), rtol=0, atol=EXACT)
    assert folded_share(determinant[0], np.ones((8, 12), dtype=bool)) == 0.0


def test_an_affine_map_has_its_matrix_determinant():
    matrix = torch.tensor([[0.8, 0.3], [-0.2, 0.5]], dtype=torch.float64)
    determinant = jacobian_determinant(grid() @ matrix.T + torch.tensor([0.1, -0.2]))
    expected = float(torch.linalg.det(matrix))
    torch.testing.assert_close(
        determinant, torch.full_like(determinant, expected), rtol=0, atol=EXACT
    )


def test_a_half_turn_keeps_orientation_and_a_mirror_folds_everything():
    everywhere = np.ones((8, 8), dtype=bool)
    assert folded_share(jacobian_determinant(-grid())[0], everywhere) == 0.0
    mirrored = grid() * torch.tensor([-1.0, 1.0], dtype=torch.float64)
    assert folded_share(jacobian_determinant(mirrored)[0], everywhere) == 1.0


def test_a_fold_made_on_purpose_is_measured_where_it_is():
    """x' = |x| folds the left half of the frame onto the right: with nodes at
    x = -1 + j/4 (9 columns), the 4 cells left of x = 0 fold, the 4 right of it do not."""
    folded = grid().clone()
    folded[..., 0] = folded[..., 0].abs()
    determinant = jacobian_determinant(folded)[0].numpy()
    np.testing.assert_allclose(determinant[:, :4], -1.0, atol=EXACT)
    np.testing.assert_allclose(determinant[:, 4:], 1.0, atol=EXACT)
    assert folded_share(determinant, np.ones((8, 8), dtype=bool)) == 0.5
    left_quarter = np.zeros((8, 8), dtype=bool)
    left_quarter[:, :2] = True
    assert folded_share(determinant, left_quarter) == 1.0
    # a region of 3 x 3 cells straddling the fold, 1 column of it on the left
    region = np.zeros((8, 8), dtype=bool)
    region[2:5, 3:6] = True
    assert folded_share(determinant, region) == pytest.approx(1 / 3)


def test_the_hull_mask_maps_frame_pixels_to_the_grids_cells():
    """A 65 x 65 frame on a 9 x 9 grid: cell centres at pixels 4, 12, ..., 60."""
    square = np.array([[10.0, 10.0], [30.0, 10.0], [30.0, 50.0], [10.0, 50.0], [20.0, 30.0]])
    mask = hull_mask(square, 65, (9, 9))
    expected = np.zeros((8, 8), dtype=bool)
    expected[1:6, 1:4] = True  # rows at 12..44 and columns at 12..28 lie inside
    np.testing.assert_array_equal(mask, expected)
    assert not hull_mask(np.array([[0.0, 0.0], [5.0, 5.0], [9.0, 9.0]]), 65, (9, 9)).any()
    assert folded_share(np.ones((8, 8)), np.zeros((8, 8), dtype=bool)) is None


def test_the_convex_hull_drops_inner_points():
    points = np.array([[0, 0], [4, 0], [4, 3], [0, 3], [2, 1], [1, 2], [4, 1]], dtype=float)
    hull = convex_hull(points)
    assert sorted(map(tuple, hull)) == [(0, 0), (0, 3), (4, 0), (4, 3)]
