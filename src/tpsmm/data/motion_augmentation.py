"""Random views and added motion for training pairs with known motion, ground truth kept.

A ground-truth training pair is a source frame, a driving frame and their true motion
(what :class:`tpsmm.data.FramesDataset` gives for synthetic videos): the deformation
``D`` (H, W, 2), each driving pixel -> its scene point's position in the source
(normalised (x, y), align_corners=True), where it is valid (H, W), and the camera ``C``
(3, 3), driving -> source background coordinates. Flips are not applied to such pairs;
this augmentation is what varies their geometry instead, so that a network cannot learn
the motion of a fixed set of videos by heart: each draw gives the same pictures a new
view and, with probability ``motion_probability``, a new motion.

Both frames are resampled through affine maps of the normalised plane (3x3, output ->
input coordinates, the background predictor's convention; :func:`affine_matrix`)::

    source'(y) = source(V y)            V: the view, drawn per pair
    driving'(x) = driving(V M x)        M: the added motion of the driving frame

so the ground truth becomes ``D'(x) = V^-1 D(V M x)`` and ``C' = V^-1 C V M``, and a
pixel stays valid where all four pixels that ``V M x`` falls between were valid and
``V M x``, ``D(V M x)`` and ``D'(x)`` are inside the frame (so that both new frames show
what they showed before there, not what the borders' reflection makes up). With ``M``
the identity, a still camera stays still (``C' = V^-1 C V``). The frames are sampled
bilinearly with reflection at the borders; the pixels that reflection makes up are never
valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from tpsmm import geometry

__all__ = [
    "GROUP",
    "KEYS",
    "MotionAugmentation",
    "affine_matrix",
    "apply_motion_augmentation",
    "move_pair_points",
]

#: The group of ``augmentation_params`` and its keys (built by
#: :func:`tpsmm.data.augmentation.build_motion_augmentation`).
GROUP = "motion_param"
KEYS = (
    "view_degrees",
    "view_scale",
    "view_shift",
    "motion_probability",
    "motion_degrees",
    "motion_scale",
    "motion_shift",
)


def affine_matrix(degrees: float, log_scale: float, shift: tuple[float, float]) -> Tensor:
    """The (3, 3) float64 map ``x -> exp(log_scale) R(degrees) x + shift`` of normalised
    (x, y) points: a rotation (counter-clockwise in (x, y), which is clockwise on screen
    since y points down) and scale about the frame centre, then a shift (1 = half the
    frame)."""
    angle = math.radians(degrees)
    scale = math.exp(log_scale)
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    return torch.tensor(
        [[cos, -sin, shift[0]], [sin, cos, shift[1]], [0.0, 0.0, 1.0]], dtype=torch.float64
    )


@dataclass(frozen=True)
class MotionAugmentation:
    """Peak amplitudes of the random view ``V`` and added motion ``M`` (each value is drawn
    uniformly in ``[-peak, peak]``; scales are log scales, shifts per coordinate in
    normalised units)."""

    view_degrees: float = 0.0
    view_scale: float = 0.0
    view_shift: float = 0.0
    motion_probability: float = 0.0
    motion_degrees: float = 0.0
    motion_scale: float = 0.0
    motion_shift: float = 0.0

    def draw(self, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
        """The view and the added motion of one pair, (3, 3) float64 each."""
        view = _draw_affine(rng, self.view_degrees, self.view_scale, self.view_shift)
        moves = rng.random() < self.motion_probability
        motion = _draw_affine(rng, self.motion_degrees, self.motion_scale, self.motion_shift)
        return view, motion if moves else torch.eye(3, dtype=torch.float64)

    def __call__(
        self,
        frames: Tensor,
        deformation: Tensor,
        valid: Tensor,
        camera: Tensor,
        rng: np.random.Generator,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Augment one pair.

        Args:
            frames: (2, 3, H, W) float32, source then driving, in [0, 1].
            deformation: (H, W, 2) the true deformation; valid: (H, W) bool.
            camera: (3, 3) the true camera map.
            rng: the item's generator.

        Returns:
            (frames, deformation, valid, camera) of the new pair, same shapes and dtypes.
        """
        view, motion = self.draw(rng)
        return apply_motion_augmentation(frames, deformation, valid, camera, view, motion)


def _draw_affine(rng: np.random.Generator, degrees: float, scale: float, shift: float) -> Tensor:
    values = rng.uniform(-1.0, 1.0, 4)
    return affine_matrix(
        degrees * values[0], scale * values[1], (shift * values[2], shift * values[3])
    )


def apply_motion_augmentation(
    frames: Tensor, deformation: Tensor, valid: Tensor, camera: Tensor, view: Tensor, motion: Tensor
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """:meth:`MotionAugmentation.__call__` with the view ``V`` and motion ``M`` given
    ((3, 3) each; see the module doc for the formulas)."""
    height, width = frames.shape[-2:]
    driving_map = view @ motion  # driving' -> driving coordinates
    grids = torch.stack(
        (
            geometry.background_grid(view[None], height, width)[0],
            geometry.background_grid(driving_map[None], height, width)[0],
        )
    )  # (2, H, W, 2) float64
    sampled = F.grid_sample(
        frames.double(), grids, mode="bilinear", padding_mode="reflection", align_corners=True
    ).to(frames.dtype)
    where = grids[1:]  # float64: float32 positions would blur the mask's edges
    moved = F.grid_sample(
        deformation.permute(2, 0, 1)[None].double(), where, "bilinear", "border", True
    )[0].permute(1, 2, 0)  # D(V M x), (H, W, 2)
    inverse_view = torch.linalg.inv(view)
    new_deformation = geometry.apply_projective(inverse_view[None], moved[None])[0]
    coverage = F.grid_sample(valid[None, None].double(), where, "bilinear", "zeros", True)[0, 0]
    edge = 1 + 1e-6  # a point on the border is inside, whatever the rounding of its maps
    inside = (
        (grids[1].abs() <= edge).all(-1)
        & (moved.abs() <= edge).all(-1)
        & (new_deformation.abs() <= edge).all(-1)
    )
    new_valid = (coverage >= 1.0 - 1e-9) & inside
    new_camera = inverse_view @ camera.double() @ driving_map
    return (
        sampled,
        new_deformation.to(deformation.dtype),
        new_valid,
        new_camera.to(camera.dtype),
    )


def move_pair_points(points: Tensor, view: Tensor, motion: Tensor) -> Tensor:
    """Points of the two frames (landmarks) where the augmented frames show them: a point
    ``p`` of the source moves to ``V^-1 p``, one of the driving frame to ``(V M)^-1 p``.

    Args:
        points: (2, N, 2) normalised (x, y), the source's then the driving frame's.
        view, motion: (3, 3) ``V`` and ``M`` (see the module doc).

    Returns:
        (2, N, 2), ``points``' dtype.
    """
    inverses = torch.stack((torch.linalg.inv(view), torch.linalg.inv(view @ motion)))
    return geometry.apply_projective(inverses, points.double()).to(points.dtype)
