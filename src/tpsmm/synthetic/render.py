"""Rendering one synthetic video and its ground truth.

A video is a textured object (a blob with a soft edge) over a textured background. Both
textures are defined on frame 0's coordinates, with a margin around the frame, on a
lattice of the frame's own pixel spacing whose points include frame 0's pixels; frame t
samples them (bilinearly) where the maps of :mod:`tpsmm.synthetic.motion` send its pixels.
So frame 0 holds the textures' lattice values, and warping frame 0 by the ground-truth
deformation (bilinear, align_corners=True) gives frame t exactly on the valid pixels, up
to the rounding of both frames to 8 bits (at most 1/255 per channel).

Ground truth of frame t (:class:`GroundTruth`):

* ``deformation`` (T, S, S, 2): for each pixel of frame t, where its scene point is in
  frame 0, in normalised (x, y) coordinates, align_corners=True - the convention of
  ``model.motion(...)['deformation']`` with frame 0 as the source;
* ``valid`` (T, S, S): the pixel is visible in frame 0 (inside the frame, not hidden by or
  mixed with the object there) and not on the object's soft edge in either frame, so its
  colour is known from frame 0;
* ``alpha`` (T, S, S): the object's coverage of each pixel, in [0, 1];
* ``camera`` (T, 3, 3): the background's affine map, frame t -> frame 0 (the background
  predictor's convention);
* tracked points: ``points`` (T, P, 2), positions in frame t of P points chosen in frame 0
  (half on the object, half on the background), ``points_visible`` (T, P) (inside frame
  t and, for background points, not hidden by the object), ``points_on_object`` (P,).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tpsmm import geometry
from tpsmm.synthetic.motion import (
    MotionParams,
    VideoMotion,
    camera_map,
    camera_positions,
    object_map,
    object_positions,
    sample_motion,
)
from tpsmm.synthetic.textures import random_texture

__all__ = ["GroundTruth", "ObjectShape", "RenderParams", "SyntheticVideo", "render_video"]

#: Width of the object's soft edge, in pixels.
EDGE_PIXELS = 1.5
#: Slack around the soft edge, in pixels, outside which a pixel counts as pure object or
#: pure background: covers the bilinear neighbourhood (up to sqrt(2) pixels away) with
#: room for the boundary's slope (the distance is stretched up to about 1.5x).
SLACK_PIXELS = 2.5


@dataclass(frozen=True)
class RenderParams:
    """What one video looks like.

    Attributes:
        frame_size: S, the square frame size.
        num_frames: T.
        margin_pixels: texture beyond each side of frame 0, in pixels (the camera and
            the object bring it into view).
        num_points: tracked points per video.
        object_photo_probability, background_photo_probability: chance that a texture
            is a photo crop rather than a procedural pattern.
        motion: the motion amplitudes.
    """

    frame_size: int = 128
    num_frames: int = 32
    margin_pixels: int = 24
    num_points: int = 64
    object_photo_probability: float = 0.7
    background_photo_probability: float = 0.5
    motion: MotionParams = field(default_factory=MotionParams)

    @property
    def texture_size(self) -> int:
        """R = S + 2 * margin: the textures' lattice size."""
        return self.frame_size + 2 * self.margin_pixels

    @property
    def extent(self) -> float:
        """m: the textures cover [-m, m]^2 (frame 0 covers [-1, 1]^2)."""
        return (self.texture_size - 1) / (self.frame_size - 1)


class GroundTruth(NamedTuple):
    """Ground truth of a video (see the module docstring for the meaning of each)."""

    deformation: np.ndarray  # (T, S, S, 2) float32
    valid: np.ndarray  # (T, S, S) bool
    alpha: np.ndarray  # (T, S, S) float32
    camera: np.ndarray  # (T, 3, 3) float32
    points: np.ndarray  # (T, P, 2) float32
    points_visible: np.ndarray  # (T, P) bool
    points_on_object: np.ndarray  # (P,) bool


class SyntheticVideo(NamedTuple):
    """Frames (T, S, S, 3) uint8 and their :class:`GroundTruth`."""

    frames: np.ndarray
    truth: GroundTruth


@dataclass(frozen=True)
class ObjectShape:
    """A star-shaped blob in frame 0: an ellipse whose radius wobbles with the angle.

    Attributes:
        centre: (2,); radius: mean radius (normalised); aspect: axis ratio; angle: the
        ellipse's orientation (radians); wobble: (3, 2) amplitude and phase of the
        radius's harmonics 2..4; edge: the soft edge's width (normalised).
    """

    centre: np.ndarray
    radius: float
    aspect: float
    angle: float
    wobble: np.ndarray
    edge: float

    def signed_distance(self, points: Tensor) -> Tensor:
        """Approximate distance inside the boundary (> 0 inside), (...,) for (..., 2)."""
        offset = points - torch.as_tensor(self.centre, dtype=points.dtype)
        cos, sin = np.cos(self.angle), np.sin(self.angle)
        u = offset[..., 0] * cos + offset[..., 1] * sin
        v = -offset[..., 0] * sin + offset[..., 1] * cos
        u, v = u / np.sqrt(self.aspect), v * np.sqrt(self.aspect)
        rho = torch.sqrt(u * u + v * v)
        phi = torch.atan2(v, u)
        boundary = torch.ones_like(phi)
        for k, (amplitude, phase) in enumerate(self.wobble, start=2):
            boundary = boundary + float(amplitude) * torch.cos(k * phi + float(phase))
        return self.radius * boundary - rho

    def coverage(self, points: Tensor, grow: float = 0.0) -> Tensor:
        """The object's alpha at ``points``: 1 inside, 0 outside, a linear ramp of width
        :attr:`edge` across the boundary; ``grow`` moves the boundary outwards (negative:
        inwards), for the validity tests."""
        distance = self.signed_distance(points) + grow
        return (0.5 + distance / self.edge).clamp(0.0, 1.0)


def _random_shape(rng: np.random.Generator, frame_size: int) -> ObjectShape:
    return ObjectShape(
        centre=rng.uniform(-0.3, 0.3, 2),
        radius=float(rng.uniform(0.35, 0.65)),
        aspect=float(np.exp(rng.uniform(-0.3, 0.3))),
        angle=float(rng.uniform(0, np.pi)),
        wobble=np.stack((rng.uniform(-0.08, 0.08, 3), rng.uniform(0, 2 * np.pi, 3)), -1),
        edge=2 * EDGE_PIXELS / (frame_size - 1),
    )


def _sample(texture: Tensor, points: Tensor, extent: float) -> Tensor:
    """Bilinear samples of a (1, 3, R, R) texture covering [-extent, extent]^2 at points
    (S, S, 2) -> (S, S, 3) (border values outside)."""
    grid = (points / extent).unsqueeze(0)
    sampled = F.grid_sample(texture, grid, "bilinear", padding_mode="border", align_corners=True)
    return sampled[0].permute(1, 2, 0)


def _inside(points: Tensor) -> Tensor:
    return (points.abs() <= 1.0).all(dim=-1)


def _to_uint8(image: Tensor) -> np.ndarray:
    return (image.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _tracked_points(
    rng: np.random.Generator, shape: ObjectShape, count: int, pixel: float
) -> tuple[Tensor, Tensor]:
    """``count`` frame-0 points, half well inside the object, half on the background well
    away from it -> (points (P, 2) float64, on_object (P,) bool)."""
    chosen: list[Tensor] = []
    flags: list[bool] = []
    for on_object, wanted in ((True, count // 2), (False, count - count // 2)):
        found = 0
        while found < wanted:
            candidates = torch.as_tensor(rng.uniform(-0.95, 0.95, (4 * count, 2)))
            distance = shape.signed_distance(candidates)
            keep = distance > 2 * pixel if on_object else distance < -2 * pixel
            picked = candidates[keep][: wanted - found]
            chosen.append(picked)
            flags += [on_object] * len(picked)
            found += len(picked)
    return torch.cat(chosen), torch.tensor(flags)


def render_video(
    rng: np.random.Generator, params: RenderParams, photos: tuple[np.ndarray, ...]
) -> SyntheticVideo:
    """Render one video and its ground truth.

    Args:
        rng: the video's random generator (everything is drawn from it, in a fixed order,
            so a seed gives the same video).
        params: sizes and amplitudes.
        photos: the photo pool for the textures (:func:`tpsmm.synthetic.textures.photo_pool`).
    """
    size, extent = params.frame_size, params.extent
    pixel = 2.0 / (size - 1)
    shape = _random_shape(rng, size)
    motion: VideoMotion = sample_motion(
        rng, params.num_frames, params.motion, shape.centre, shape.radius
    )
    textures = [
        torch.as_tensor(random_texture(rng, params.texture_size, photos, probability).copy())
        .permute(2, 0, 1)
        .unsqueeze(0)
        for probability in (params.object_photo_probability, params.background_photo_probability)
    ]
    object_texture, background_texture = textures
    points0, on_object = _tracked_points(rng, shape, params.num_points, pixel)

    grid = geometry.coordinate_grid(size, size, dtype=torch.float64)
    frames, deformations, valids, alphas = [], [], [], []
    positions, visible = [], []
    for t in range(params.num_frames):
        object_points = object_map(motion, t, grid)
        background_points = camera_map(motion, t, grid)
        alpha = shape.coverage(object_points)
        frame = alpha[..., None] * _sample(object_texture, object_points, extent) + (
            1 - alpha[..., None]
        ) * _sample(background_texture, background_points, extent)
        on = alpha >= 0.5
        deformation = torch.where(on[..., None], object_points, background_points)
        # Valid: the pixel and the four frame-0 pixels that bilinear sampling reads are
        # all pure object or all pure background (SLACK_PIXELS around the edge).
        pure_object = shape.coverage(object_points, grow=-SLACK_PIXELS * pixel) >= 1.0
        pure_background = (alpha <= 0.0) & (
            shape.coverage(background_points, grow=SLACK_PIXELS * pixel) <= 0.0
        )
        valid = _inside(deformation) & (pure_object | pure_background)
        frames.append(_to_uint8(frame))
        deformations.append(deformation.float().numpy())
        valids.append(valid.numpy())
        alphas.append(alpha.float().numpy())

        where = torch.where(
            on_object[:, None],
            object_positions(motion, t, points0),
            camera_positions(motion, t, points0),
        )
        covered = shape.coverage(object_map(motion, t, where)) > 0.0
        positions.append(where.float().numpy())
        visible.append((_inside(where) & (on_object | ~covered)).numpy())

    truth = GroundTruth(
        deformation=np.stack(deformations),
        valid=np.stack(valids),
        alpha=np.stack(alphas),
        camera=motion.camera.astype(np.float32),
        points=np.stack(positions),
        points_visible=np.stack(visible),
        points_on_object=on_object.numpy(),
    )
    return SyntheticVideo(np.stack(frames), truth)
