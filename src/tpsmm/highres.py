"""Rendering an animated frame above the model's size from the full-resolution source.

The model animates at its own size S; for every output pixel it knows where that pixel
comes from in the source (the dense motion network's deformation, at S/4) and whether
the source can supply it (the last occlusion mask, at S). :func:`render` uses both to
move the source at its own resolution to the output grid, and keeps the model's frame
for everything the source cannot give:

    result = up(prediction) + visible * (warped_full - up(warped_model))

* ``warped_full``: the full-resolution source sampled at the deformation brought up to
  the output's resolution (the detail);
* ``warped_model``: the source at the model's size warped by the model's own
  deformation (what the model's frame holds where the source is visible), so that
  ``warped_full - up(warped_model)`` is only what the model's resolution lost;
* ``up(prediction)``: the model's frame brought up bicubically, which gives the low
  frequencies everywhere (colour, shading, the inpainted regions);
* ``visible``: the last occlusion mask brought up bilinearly: the detail is added where
  the source is visible and left out where the model painted.

Where the mask is 1 and the model's frame equals ``warped_model`` (the inpainting
network's composition), the result is the full-resolution source moved by the
deformation, exactly; where the mask is 0 it is the model's frame, bicubically upsampled.
The choices (bilinear deformation, bicubic upsampling of the model's frame, the split
through the model's own warp, the mask as it is) were measured:
``benchmarks/highres_quality.py``, results in ``benchmarks/RESULTS.md``.

Conventions (kornia style):

* Images are float tensors (B, C, H, W) in [0, 1].
* The model's own coordinates follow :mod:`tpsmm.geometry`: normalised to [-1, 1] with
  ``align_corners=True`` *at the model's size S* (pixel column j of the model's frame is
  at ``x = 2 j / (S - 1) - 1``).
* The renderer's coordinates ("frame coordinates", ``c``) do not depend on a resolution:
  [-1, 1] spans the model's square from edge to edge (``align_corners=False``: pixel
  column j of an N-pixel-wide output is at ``c = (2 j + 1) / N - 1``), which is how the
  model's square frame and the full-resolution source are resized into one another
  (Pillow's resampling, :mod:`tpsmm.media.fit`). The two are related by
  ``x = c * S / (S - 1)`` (:func:`to_model_coordinates`). Grids are (..., H, W, 2) with
  channel 0 = x (columns), channel 1 = y (rows).
* The full-resolution source covers a box of frame coordinates (left, top, right, bottom
  of its outer edges; the model's square by default).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from tpsmm import geometry

#: The model's square in frame coordinates (left, top, right, bottom).
MODEL_BOX: tuple[float, float, float, float] = (-1.0, -1.0, 1.0, 1.0)


def frame_grid(
    height: int,
    width: int,
    box: tuple[float, float, float, float] = MODEL_BOX,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """The frame coordinates of the pixel centres of a ``height`` x ``width`` image that
    covers ``box`` (left, top, right, bottom of its outer edges).

    Returns:
        (1, height, width, 2): ``[..., 0]`` is x, ``[..., 1]`` is y. For the default box,
        pixel j of N lies at ``(2 j + 1) / N - 1``.
    """
    left, top, right, bottom = box
    xs = left + (torch.arange(width, dtype=torch.float64) + 0.5) * ((right - left) / width)
    ys = top + (torch.arange(height, dtype=torch.float64) + 0.5) * ((bottom - top) / height)
    grid = torch.stack(
        (xs.view(1, width).expand(height, width), ys.view(height, 1).expand(height, width)),
        dim=-1,
    )
    return grid.unsqueeze(0).to(dtype=dtype, device=device)


def to_model_coordinates(points: Tensor, model_size: int) -> Tensor:
    """Frame coordinates -> the model's (``align_corners=True`` at ``model_size``)."""
    return points * (model_size / (model_size - 1))


def to_frame_coordinates(points: Tensor, model_size: int) -> Tensor:
    """The model's coordinates at ``model_size`` -> frame coordinates."""
    return points * ((model_size - 1) / model_size)


def sample_model_map(image: Tensor, points: Tensor, mode: str = "bilinear") -> Tensor:
    """Sample a map of the model's (B, C, h, w) (an image, a mask, a deformation with its
    two coordinates as channels) at ``points`` (1 or B, H, W, 2) in the model's
    coordinates; ``align_corners=True`` at the map's own size, as the model resizes its
    maps, and the border values beyond the edges. ``mode``: ``bilinear`` or ``bicubic``.

    Returns:
        (B, C, H, W).
    """
    points = points.expand(image.shape[0], *points.shape[1:])
    return F.grid_sample(image, points, mode, padding_mode="border", align_corners=True)


def extend_linearly(field: Tensor) -> Tensor:
    """A (B, C, h, w) field with one more row and column on each side, extrapolated
    linearly (``f[-1] = 2 f[0] - f[1]``), so that a linear field stays linear beyond its
    edges; (B, C, h + 2, w + 2)."""
    field = torch.cat((2 * field[:, :, :1] - field[:, :, 1:2], field), dim=2)
    field = torch.cat((field, 2 * field[:, :, -1:] - field[:, :, -2:-1]), dim=2)
    field = torch.cat((2 * field[..., :1] - field[..., 1:2], field), dim=3)
    return torch.cat((field, 2 * field[..., -1:] - field[..., -2:-1]), dim=3)


def upsample_deformation(deformation: Tensor, points: Tensor, model_size: int) -> Tensor:
    """The model's deformation (B, h, w, 2) (driving -> source, model coordinates) at
    ``points`` (1 or B, H, W, 2) in frame coordinates, bilinearly (the model's own way of
    resizing it to its feature maps).

    An output's outermost pixels lie up to half a model pixel beyond the model's outermost
    pixel centres, where the deformation is continued linearly (one grid cell of
    :func:`extend_linearly`): a translation or any affine motion stays exact up to the
    output's edge.

    Returns:
        (B, H, W, 2): where each point comes from in the source, in frame coordinates.
    """
    height, width = deformation.shape[1:3]
    extended = extend_linearly(deformation.permute(0, 3, 1, 2))
    # The extended field's corner samples lie one cell beyond [-1, 1].
    shrink = points.new_tensor([(width - 1) / (width + 1), (height - 1) / (height + 1)])
    field = sample_model_map(extended, to_model_coordinates(points, model_size) * shrink)
    return to_frame_coordinates(field.permute(0, 2, 3, 1), model_size)


def sample_source(
    source: Tensor,
    points: Tensor,
    box: Tensor | tuple[float, float, float, float] = MODEL_BOX,
    mode: str = "bicubic",
) -> tuple[Tensor, Tensor]:
    """Sample a full-resolution ``source`` (1 or B, C, Hs, Ws) covering ``box`` (frame
    coordinates of its outer edges; a tuple or a (4,) tensor) at ``points`` (B, H, W, 2)
    in frame coordinates.

    Returns:
        ``(samples, coverage)``: (B, C, H, W) samples, the edge pixels continued beyond
        the source's edges (``bicubic`` may overshoot [0, 1] slightly at sharp edges);
        (B, 1, H, W) how much of each sample lies on the source: 1 from the centre of
        the outermost pixels inwards, 0 one pixel beyond them, linear in between (what
        bilinear sampling with zero padding would keep of a white image).
    """
    box = torch.as_tensor(box, dtype=points.dtype, device=points.device)
    centre = (box[:2] + box[2:]) / 2
    half = (box[2:] - box[:2]) / 2
    inside = (points - centre) / half
    source = source.expand(points.shape[0], *source.shape[1:])
    samples = F.grid_sample(source, inside, mode, padding_mode="border", align_corners=False)
    white = torch.ones_like(source[:, :1])
    coverage = F.grid_sample(white, inside, "bilinear", padding_mode="zeros", align_corners=False)
    return samples, coverage


def render(
    source: Tensor,
    model_source: Tensor,
    prediction: Tensor,
    deformation: Tensor,
    occlusion: Tensor,
    points: Tensor,
    source_box: Tensor | tuple[float, float, float, float] = MODEL_BOX,
) -> Tensor:
    """Animated frames at the resolution of ``points`` (see the module docstring).

    Args:
        source: (1 or B, 3, Hs, Ws) in [0, 1], the source at its own resolution,
            covering ``source_box`` (frame coordinates; the model's square by default).
        model_source: (1 or B, 3, S, S) in [0, 1], the source as the model saw it.
        prediction: (B, 3, S, S) in [0, 1], the model's frames.
        deformation: (B, h, w, 2), the dense motion network's deformation (model
            coordinates, driving -> source).
        occlusion: (B, 1, S, S) in [0, 1], the last (full-resolution) occlusion mask: 1
            where the source is visible.
        points: (1 or B, H, W, 2), the output pixels in frame coordinates
            (:func:`frame_grid`).

    Returns:
        (B, 3, H, W) in [0, 1].
    """
    size = prediction.shape[-1]
    batch = prediction.shape[0]
    points = points.expand(batch, *points.shape[1:])
    model_points = to_model_coordinates(points, size)
    moved = upsample_deformation(deformation, points, size)
    warped_full, coverage = sample_source(source, moved, source_box)
    warped_model = geometry.warp(
        model_source.expand(batch, -1, -1, -1), deformation, padding_mode="border"
    )
    low = sample_model_map(torch.cat((prediction, warped_model), dim=1), model_points, "bicubic")
    visible = sample_model_map(occlusion, model_points) * coverage
    upsampled, warped_low = low[:, :3], low[:, 3:]
    return (upsampled + visible * (warped_full - warped_low)).clamp(0.0, 1.0)
