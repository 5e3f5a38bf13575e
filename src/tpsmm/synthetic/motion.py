"""Random smooth motion of the synthetic videos, as maps from frame t to frame 0.

Conventions: points are (x, y) in the model's normalised coordinates ([-1, 1],
align_corners=True; see :mod:`tpsmm.geometry`), float64 tensors ``(..., 2)``. Every map
here goes *backwards*, from a pixel of frame t to where the same scene point is in frame 0
(what the dense motion network's ``deformation`` predicts when frame 0 is the source and
frame t the driving frame), and is the identity at t = 0.

* The camera moves the background by an affine map ``x0 = A_t x + b_t``: rotation, scale
  and shift about the frame centre (:attr:`VideoMotion.camera`, 3x3 matrices in the
  background predictor's convention).
* The object moves rigidly (rotation and scale about its centre, a shift) and deforms
  elastically: ``x0 = E_t(c + R(-a_t) (x - c - d_t) / s_t)`` where ``E_t`` is the thin-plate
  spline that moves a 3x3 lattice of control points around the object by smooth random
  displacements (:func:`object_map`). Its inverse, for tracked points, is found by
  Newton's method (:func:`object_positions`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from tpsmm import geometry

__all__ = [
    "MotionParams",
    "VideoMotion",
    "camera_map",
    "camera_positions",
    "object_map",
    "object_positions",
    "sample_motion",
    "smooth_curves",
]


@dataclass(frozen=True)
class MotionParams:
    """How much things move over a clip (peak values; each video draws a fraction).

    Attributes:
        object_shift: peak shift of the object, in normalised units (1 = half the frame).
        object_rotation: peak rotation of the object, degrees.
        object_scale: peak change of the object's log scale (0.2: about +-20 %).
        object_elastic: peak displacement of the elastic deformation's control points.
        camera_shift, camera_rotation, camera_scale: the same for the camera.
        still_camera: probability that a video's camera does not move.
    """

    object_shift: float = 0.25
    object_rotation: float = 20.0
    object_scale: float = 0.2
    object_elastic: float = 0.08
    camera_shift: float = 0.08
    camera_rotation: float = 3.0
    camera_scale: float = 0.05
    still_camera: float = 0.3


@dataclass(frozen=True)
class VideoMotion:
    """The motion of one video of ``T`` frames.

    Attributes:
        camera: (T, 3, 3) affine matrices, frame t -> frame 0 background coordinates
            (last row 0, 0, 1; the identity at t = 0).
        centre: (2,) the object's centre in frame 0.
        shift: (T, 2) the object's shift d_t; angle: (T,) its rotation a_t (radians);
            scale: (T,) its scale s_t.
        control_points: (N, 2) the elastic deformation's control points (frame 0).
        displacements: (T, N, 2) their displacements (zero at t = 0).
    """

    camera: np.ndarray
    centre: np.ndarray
    shift: np.ndarray
    angle: np.ndarray
    scale: np.ndarray
    control_points: np.ndarray
    displacements: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.camera.shape[0])


def smooth_curves(rng: np.random.Generator, num_frames: int, count: int) -> np.ndarray:
    """``count`` smooth random curves over ``num_frames`` frames, (T, count) float64.

    Each is a sum of three sines of random frequency (up to about three cycles per clip)
    and phase, shifted to start at 0 and scaled so that its peak magnitude is a random
    fraction in [0.4, 1] (so clips differ in how much they move).
    """
    tau = np.linspace(0.0, 1.0, num_frames)[:, None]
    curves = np.zeros((num_frames, count))
    for harmonic in (1, 2, 3):
        frequency = rng.uniform(0.25, 1.0, count) * harmonic
        phase = rng.uniform(0.0, 2 * np.pi, count)
        amplitude = rng.normal(0.0, 1.0, count) / harmonic
        curves += amplitude * np.sin(2 * np.pi * frequency * tau + phase)
    curves -= curves[:1]
    peak = np.abs(curves).max(axis=0)
    peak[peak == 0] = 1.0
    return curves / peak * rng.uniform(0.4, 1.0, count)


def _rotation(angle: np.ndarray) -> np.ndarray:
    """(T,) radians -> (T, 2, 2) rotation matrices."""
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack((np.stack((cos, -sin), -1), np.stack((sin, cos), -1)), -2)


def sample_motion(
    rng: np.random.Generator,
    num_frames: int,
    params: MotionParams,
    centre: np.ndarray,
    radius: float,
) -> VideoMotion:
    """Draw the camera and object motion of one video.

    Args:
        rng: the video's random generator.
        num_frames: T.
        params: the peak amplitudes.
        centre: (2,) the object's centre in frame 0; radius: its size (normalised), which
            places the elastic deformation's control points.
    """
    curves = smooth_curves(rng, num_frames, 8)
    if rng.random() < params.still_camera:
        camera = np.tile(np.eye(3), (num_frames, 1, 1))
    else:
        angle = np.deg2rad(params.camera_rotation) * curves[:, 0]
        scale = np.exp(params.camera_scale * curves[:, 1])
        camera = np.tile(np.eye(3), (num_frames, 1, 1))
        camera[:, :2, :2] = _rotation(angle) * scale[:, None, None]
        camera[:, :2, 2] = params.camera_shift * curves[:, 2:4]
    lattice = np.linspace(-0.8, 0.8, 3) * radius
    grid = np.stack(np.meshgrid(lattice, lattice, indexing="xy"), -1).reshape(-1, 2)
    control_points = centre + grid + rng.uniform(-0.1, 0.1, grid.shape) * radius
    elastic = smooth_curves(rng, num_frames, control_points.size)
    return VideoMotion(
        camera=camera,
        centre=np.asarray(centre, dtype=np.float64),
        shift=params.object_shift * curves[:, 4:6],
        angle=np.deg2rad(params.object_rotation) * curves[:, 6],
        scale=np.exp(params.object_scale * curves[:, 7]),
        control_points=control_points,
        displacements=params.object_elastic * elastic.reshape(num_frames, -1, 2),
    )


def camera_map(motion: VideoMotion, t: int, points: Tensor) -> Tensor:
    """Frame-t points (..., 2) -> their background position in frame 0 (..., 2)."""
    matrix = torch.as_tensor(motion.camera[t], dtype=points.dtype)
    return points @ matrix[:2, :2].T + matrix[:2, 2]


def camera_positions(motion: VideoMotion, t: int, points: Tensor) -> Tensor:
    """Frame-0 background points (..., 2) -> where they are in frame t (..., 2)."""
    inverse = torch.as_tensor(np.linalg.inv(motion.camera[t]), dtype=points.dtype)
    return points @ inverse[:2, :2].T + inverse[:2, 2]


def _elastic(motion: VideoMotion, t: int, dtype: torch.dtype) -> geometry.ThinPlateSpline:
    control = torch.as_tensor(motion.control_points, dtype=dtype)
    moved = control + torch.as_tensor(motion.displacements[t], dtype=dtype)
    return geometry.fit_tps(control, moved, ridge=0.0)


def object_map(motion: VideoMotion, t: int, points: Tensor) -> Tensor:
    """Frame-t points (..., 2) -> where the object point seen there is in frame 0."""
    centre = torch.as_tensor(motion.centre, dtype=points.dtype)
    shift = torch.as_tensor(motion.shift[t], dtype=points.dtype)
    rotation = torch.as_tensor(_rotation(-motion.angle[t : t + 1])[0], dtype=points.dtype)
    rigid = centre + (points - centre - shift) @ rotation.T / float(motion.scale[t])
    shape = rigid.shape
    mapped = geometry.apply_tps(_elastic(motion, t, points.dtype), rigid.reshape(-1, 2))
    return mapped.reshape(shape)


def object_positions(motion: VideoMotion, t: int, points: Tensor, iterations: int = 30) -> Tensor:
    """Frame-0 object points (P, 2) -> where they are in frame t (P, 2): the inverse of
    :func:`object_map`, by Newton's method with a finite-difference Jacobian, started from
    the inverse of the rigid part (float64 gives about 1e-12 of residual)."""
    points = points.to(torch.float64)
    centre = torch.as_tensor(motion.centre, dtype=torch.float64)
    shift = torch.as_tensor(motion.shift[t], dtype=torch.float64)
    rotation = torch.as_tensor(_rotation(motion.angle[t : t + 1])[0], dtype=torch.float64)
    guess = centre + shift + float(motion.scale[t]) * (points - centre) @ rotation.T
    step = 1e-6
    unit = torch.eye(2, dtype=torch.float64)
    for _ in range(iterations):
        residual = object_map(motion, t, guess) - points
        columns = [(object_map(motion, t, guess + step * unit[i]) - points - residual) / step
                   for i in range(2)]  # fmt: skip
        jacobian = torch.stack(columns, dim=-1)  # (P, 2, 2): d map / d (x, y)
        delta = torch.linalg.solve(jacobian, residual.unsqueeze(-1)).squeeze(-1)
        guess = guess - delta
        if float(delta.abs().max()) < 1e-13:
            break
    return guess
