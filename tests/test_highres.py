"""The high-resolution renderer (tpsmm.highres) on closed-form cases: no motion, a pure
translation, an affine motion, masks that hide everything, a colour shift of the model."""

from __future__ import annotations

import pytest
import torch

from float32_bounds import U
from tpsmm import geometry
from tpsmm.highres import (
    MODEL_BOX,
    extend_linearly,
    frame_grid,
    render,
    sample_model_map,
    to_frame_coordinates,
    to_model_coordinates,
    upsample_deformation,
)

#: Float32 operations between a pixel index and the sampling position the renderer
#: computes for it (grid, two coordinate changes, the deformation's bilinear weights,
#: the source's normalisation and grid_sample's own): each rounds by at most u relative
#: to values of at most the image's size in pixels.
COORDINATE_OPS = 16
#: The steepest slope of bicubic (a = -0.75) interpolation of values in [0, 1], per
#: pixel: the sum of the kernel derivative's magnitudes is below 3.
BICUBIC_SLOPE = 3.0


def position_tolerance(pixels: int) -> float:
    """How far (in pixels) float32 rounding can move a sampling position in an image
    ``pixels`` wide."""
    return COORDINATE_OPS * U * pixels


def value_tolerance(pixels: int) -> float:
    """How much a bicubic sample of [0, 1] values can change when its position moves by
    :func:`position_tolerance`, plus the rounding of the composition's few operations."""
    return BICUBIC_SLOPE * position_tolerance(pixels) + 8 * U


def random_image(height: int, width: int, seed: int = 0, batch: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, height, width, generator=generator)


def identity_deformation(model_size: int, batch: int = 1) -> torch.Tensor:
    """The dense motion network's deformation for no motion: (B, S/4, S/4, 2)."""
    small = model_size // 4
    return geometry.coordinate_grid(small, small).expand(batch, small, small, 2).clone()


def model_inputs(source: torch.Tensor, deformation: torch.Tensor, model_size: int):
    """The source at the model's size, and a model frame that is exactly the source
    warped by the deformation (what the inpainting network gives where the mask is 1;
    with the source's edges continued, as the renderer's own warp at the model's size
    does)."""
    model_source = torch.nn.functional.interpolate(
        source, size=(model_size, model_size), mode="bilinear", antialias=True
    )
    warped = geometry.warp(
        model_source.expand(len(deformation), -1, -1, -1), deformation, padding_mode="border"
    )
    return model_source, warped


def test_frame_grid_is_pixel_centres_edge_to_edge():
    grid = frame_grid(3, 5)
    assert grid.shape == (1, 3, 5, 2)
    torch.testing.assert_close(grid[0, 0, :, 0], torch.tensor([-0.8, -0.4, 0.0, 0.4, 0.8]))
    torch.testing.assert_close(grid[0, :, 0, 1], torch.tensor([-2 / 3, 0.0, 2 / 3]))
    inner = frame_grid(2, 2, (0.0, 0.0, 1.0, 1.0))
    torch.testing.assert_close(inner[0, 0, 0], torch.tensor([0.25, 0.25]))


def test_model_coordinates_put_model_pixels_at_their_centres():
    size = 8
    centres = frame_grid(1, size)[0, 0, :, 0]
    torch.testing.assert_close(to_model_coordinates(centres, size), torch.linspace(-1, 1, size))
    torch.testing.assert_close(to_frame_coordinates(to_model_coordinates(centres, 8), 8), centres)


def test_linear_extension_keeps_linear_fields_linear():
    field = geometry.coordinate_grid(4, 6).permute(2, 0, 1).unsqueeze(0) * 3 + 0.5
    extended = extend_linearly(field)
    assert extended.shape == (1, 2, 6, 8)
    expected = geometry.coordinate_grid(6, 8).permute(2, 0, 1).unsqueeze(0)
    expected = expected * torch.tensor([7 / 5, 5 / 3]).view(1, 2, 1, 1) * 3 + 0.5
    torch.testing.assert_close(extended, expected)


@pytest.mark.parametrize(("height", "width", "model_size"), [(64, 64, 16), (37, 53, 16)])
def test_identity_deformation_reaches_every_output_pixel_exactly(height, width, model_size):
    deformation = identity_deformation(model_size)
    moved = upsample_deformation(deformation, frame_grid(height, width), model_size)
    torch.testing.assert_close(
        moved, frame_grid(height, width), rtol=0, atol=2 * position_tolerance(max(height, width))
    )


@pytest.mark.parametrize(
    ("height", "width", "model_size"), [(64, 64, 16), (97, 97, 32), (37, 53, 16)]
)
def test_no_motion_gives_the_source_where_visible(height, width, model_size):
    source = random_image(height, width)
    deformation = identity_deformation(model_size)
    model_source, prediction = model_inputs(source, deformation, model_size)
    visible = torch.ones(1, 1, model_size, model_size)
    out = render(source, model_source, prediction, deformation, visible, frame_grid(height, width))
    assert out.shape == (1, 3, height, width)
    torch.testing.assert_close(out, source, rtol=0, atol=value_tolerance(max(height, width)))


def test_hidden_everywhere_gives_the_model_frame_upsampled():
    size, model_size = 48, 16
    source = random_image(size, size)
    deformation = identity_deformation(model_size)
    model_source, _ = model_inputs(source, deformation, model_size)
    prediction = random_image(model_size, model_size, seed=1)
    hidden = torch.zeros(1, 1, model_size, model_size)
    points = frame_grid(size, size)
    out = render(source, model_source, prediction, deformation, hidden, points)
    upsampled = sample_model_map(prediction, to_model_coordinates(points, model_size), "bicubic")
    torch.testing.assert_close(out, upsampled.clamp(0, 1), rtol=0, atol=8 * U)


def test_mask_chooses_source_detail_only_where_visible():
    size, model_size = 64, 16
    source = random_image(size, size)
    deformation = identity_deformation(model_size)
    model_source, prediction = model_inputs(source, deformation, model_size)
    visible = torch.zeros(1, 1, model_size, model_size)
    visible[..., : model_size // 2] = 1  # the left half
    out = render(source, model_source, prediction, deformation, visible, frame_grid(size, size))
    left = slice(0, size // 2 - 3)  # the mask's bilinear ramp spans the middle
    right = slice(size // 2 + 3, size)
    torch.testing.assert_close(
        out[..., left], source[..., left], rtol=0, atol=value_tolerance(size)
    )
    upsampled = sample_model_map(
        prediction, to_model_coordinates(frame_grid(size, size), model_size), "bicubic"
    )
    torch.testing.assert_close(
        out[..., right], upsampled[..., right].clamp(0, 1), atol=8 * U, rtol=0
    )


@pytest.mark.parametrize(
    ("shift_x", "shift_y", "height", "width"),
    [(3, 0, 64, 64), (-5, 2, 64, 64), (0, -7, 64, 64), (4, -3, 45, 61)],
)
def test_translation_moves_every_pixel_by_it_at_the_output_size(shift_x, shift_y, height, width):
    model_size = 16
    source = random_image(height, width, seed=2)
    # A translation of (shift_x, shift_y) output pixels, in the model's coordinates: the
    # output pixel at c samples the source at c + 2 * shift / size (each axis its own
    # size: an odd, non-square output has pixels of another width than height).
    shift = torch.tensor([shift_x / width, shift_y / height]) * 2 * model_size / (model_size - 1)
    deformation = identity_deformation(model_size) + shift
    model_source, prediction = model_inputs(source, deformation, model_size)
    visible = torch.ones(1, 1, model_size, model_size)
    out = render(source, model_source, prediction, deformation, visible, frame_grid(height, width))
    assert out.shape == (1, 3, height, width)
    rows = slice(max(0, -shift_y), height - max(0, shift_y))
    cols = slice(max(0, -shift_x), width - max(0, shift_x))
    moved_rows = slice(rows.start + shift_y, rows.stop + shift_y)
    moved_cols = slice(cols.start + shift_x, cols.stop + shift_x)
    torch.testing.assert_close(
        out[..., rows, cols],
        source[..., moved_rows, moved_cols],
        rtol=0,
        atol=value_tolerance(max(height, width)),
    )


def test_above_the_sources_resolution_no_motion_gives_the_source_interpolated():
    """N above the source's own resolution: the source is interpolated bicubically (as
    Pillow or ``F.interpolate`` would resize it), nothing sharper; in the output's outer
    pixel, beyond the centres of the source's outermost pixels, the source's detail fades
    out to the model's frame (``sample_source``'s coverage)."""
    size, source_size, model_size = 64, 24, 16
    source = random_image(source_size, source_size, seed=6)
    deformation = identity_deformation(model_size)
    model_source, prediction = model_inputs(source, deformation, model_size)
    visible = torch.ones(1, 1, model_size, model_size)
    out = render(source, model_source, prediction, deformation, visible, frame_grid(size, size))
    expected = torch.nn.functional.interpolate(
        source, size=(size, size), mode="bicubic", align_corners=False
    )
    inner = (..., slice(1, -1), slice(1, -1))
    torch.testing.assert_close(
        out[inner], expected.clamp(0, 1)[inner], rtol=0, atol=value_tolerance(size)
    )


def test_low_frequencies_and_colour_are_the_models():
    size, model_size = 64, 16
    source = random_image(size, size, seed=3)
    deformation = identity_deformation(model_size)
    model_source, warped = model_inputs(source, deformation, model_size)
    offset = torch.tensor([0.05, -0.03, 0.02]).view(1, 3, 1, 1)
    prediction = warped + offset  # the model's frame: the warped source, tinted
    visible = torch.ones(1, 1, model_size, model_size)
    out = render(source, model_source, prediction, deformation, visible, frame_grid(size, size))
    expected = (source + offset).clamp(0, 1)
    torch.testing.assert_close(out, expected, rtol=0, atol=value_tolerance(size) + 8 * U)


def test_source_box_places_a_larger_source_around_the_model_square():
    # A source covering twice the model's square in each direction, at twice the pixels:
    # its centre half is the model's square at the output's resolution.
    size, model_size = 32, 16
    wide = random_image(2 * size, 2 * size, seed=4)
    inner = wide[..., size // 2 : size // 2 + size, size // 2 : size // 2 + size]
    deformation = identity_deformation(model_size)
    model_source, prediction = model_inputs(inner, deformation, model_size)
    visible = torch.ones(1, 1, model_size, model_size)
    out = render(
        wide,
        model_source,
        prediction,
        deformation,
        visible,
        frame_grid(size, size),
        source_box=(-2.0, -2.0, 2.0, 2.0),
    )
    torch.testing.assert_close(out, inner, rtol=0, atol=value_tolerance(2 * size))


def test_batches_share_one_source():
    size, model_size = 40, 16
    source = random_image(size, size, seed=5)
    shift = torch.tensor([[[[0.1, 0.0]]], [[[0.0, -0.2]]]])
    deformation = identity_deformation(model_size, batch=2) + shift
    model_source, prediction = model_inputs(source, deformation, model_size)
    visible = torch.rand(2, 1, model_size, model_size, generator=torch.Generator().manual_seed(0))
    points = frame_grid(size, size)
    both = render(source, model_source, prediction, deformation, visible, points)
    for row in range(2):
        one = render(
            source,
            model_source,
            prediction[row : row + 1],
            deformation[row : row + 1],
            visible[row : row + 1],
            points,
        )
        torch.testing.assert_close(both[row : row + 1], one, rtol=0, atol=8 * U)
    assert MODEL_BOX == (-1.0, -1.0, 1.0, 1.0)
