"""Geometry of the Thin-Plate Spline Motion Model as small pure functions.

Conventions (the authors' code; every function here follows them):

* Images are float tensors (B, C, H, W).
* Coordinates are normalised to [-1, 1] with the ``align_corners=True`` convention: for
  width ``w`` pixel column ``j`` maps to ``x = 2 j / (w - 1) - 1``; likewise rows to ``y``.
* A coordinate grid of size (h, w) has shape (h, w, 2); channel 0 is x (columns),
  channel 1 is y (rows). Points are ``(..., 2)`` tensors in (x, y) order.
* Sampling (:func:`warp`) is bilinear with ``align_corners=True`` and zero padding unless
  stated otherwise.
* Coordinates are computed in the dtype of their inputs, with autocast off (training
  under ``--precision bf16`` would round them to 1/128 otherwise; see
  :func:`tpsmm.runtime.full_precision`).
* A thin-plate spline maps *driving* coordinates to *source* coordinates: its control
  points are driving keypoints and its targets source keypoints, so warping the source by
  the transformed grid moves the source to the driving pose.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from tpsmm.runtime import in_full_precision

#: Ridge the authors add to the whole diagonal of the TPS system (Eq. 3 of the paper
#: leaves it out; the published checkpoints were trained with it).
TPS_RIDGE = 0.01
#: Offset inside the radial basis ``U(d2) = d2 * log(d2 + eps)``.
TPS_LOG_EPS = 1e-9


def is_exporting() -> bool:
    """True while the model is traced for export (``torch.export``, ``torch.onnx``):
    the code then takes forms that export graphs can hold (the unrolled TPS solve, the
    plain InstanceNorm operator) instead of the fastest eager ones."""
    return torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting()


def coordinate_grid(
    height: int, width: int, *, dtype: torch.dtype = torch.float32, device=None
) -> Tensor:
    """Pixel-centre coordinates of an (height, width) image in [-1, 1], align_corners=True.

    Returns:
        (height, width, 2) tensor; ``[..., 0]`` is x (varies along columns),
        ``[..., 1]`` is y (varies along rows). ``grid[0, 0] = (-1, -1)`` and
        ``grid[-1, -1] = (1, 1)``.
    """
    x = 2 * (torch.arange(width, dtype=dtype, device=device) / (width - 1)) - 1
    y = 2 * (torch.arange(height, dtype=dtype, device=device) / (height - 1)) - 1
    return torch.stack(
        (x.view(1, width).expand(height, width), y.view(height, 1).expand(height, width)), dim=-1
    )


def tps_radial_basis(squared_distance: Tensor) -> Tensor:
    """The TPS kernel ``U(d2) = d2 * log(d2 + 1e-9)`` of squared distances (the paper's
    ``r^2 log r^2``). Finite, with a finite gradient, at ``d2 = 0``."""
    return squared_distance * torch.log(squared_distance + TPS_LOG_EPS)


def _squared_distances(points: Tensor, centres: Tensor) -> Tensor:
    """Squared Euclidean distances of (..., N, 2) points to (..., M, 2) centres -> (..., N, M).

    Computed as a sum of squared coordinate differences so the gradient stays finite
    when a point coincides with a centre (a norm would divide by zero)."""
    return (points.unsqueeze(-2) - centres.unsqueeze(-3)).pow(2).sum(-1)


class ThinPlateSpline(NamedTuple):
    """Parameters of a batch of 2-D thin-plate splines (any leading batch shape ``...``).

    Attributes:
        control_points: (..., N, 2) points ``p_i`` in the domain (driving keypoints).
        affine: (..., 2, 3) matrix ``A``: columns x, y, constant.
        kernel_weights: (..., N, 2) weights ``w_i`` of the radial basis terms.

    A point ``x`` maps to ``A[:, :2] x + A[:, 2] + sum_i U(|x - p_i|^2) w_i``.
    """

    control_points: Tensor
    affine: Tensor
    kernel_weights: Tensor


@in_full_precision
def fit_tps(control_points: Tensor, targets: Tensor, ridge: float = TPS_RIDGE) -> ThinPlateSpline:
    """Fit thin-plate splines mapping ``control_points`` towards ``targets`` (paper Eq. 1-3).

    Builds ``L = [[K, P], [P^T, 0]] + ridge * I`` with ``K_ij = U(|p_i - p_j|^2)`` and
    ``P`` rows ``(x_i, y_i, 1)``, and solves ``L Theta = [q; 0]``. With the authors' ridge
    (0.01 over the whole diagonal) the spline does not interpolate exactly; with
    ``ridge=0`` it maps each control point onto its target.

    Args:
        control_points: (..., N, 2) points ``p`` in [-1, 1] (N >= 3, not all collinear
            when ``ridge == 0``).
        targets: (..., N, 2) points ``q``.
        ridge: value added to the whole diagonal of ``L``.

    Returns:
        The fitted :class:`ThinPlateSpline`; its tensors have the input's leading shape.
    """
    n = control_points.shape[-2]
    batch_shape = control_points.shape[:-2]
    kernel = tps_radial_basis(_squared_distances(control_points, control_points))
    ones = control_points.new_ones((*batch_shape, n, 1))
    p = torch.cat((control_points, ones), dim=-1)  # (..., N, 3)
    zeros33 = control_points.new_zeros((*batch_shape, 3, 3))
    system = torch.cat(
        (torch.cat((kernel, p), dim=-1), torch.cat((p.transpose(-1, -2), zeros33), dim=-1)),
        dim=-2,
    )
    if ridge:
        system = system + ridge * torch.eye(n + 3, dtype=system.dtype, device=system.device)
    rhs = torch.cat((targets, targets.new_zeros((*batch_shape, 3, 2))), dim=-2)
    # ONNX has no linear solve: a graph being exported gets the unrolled elimination.
    solve = solve_unrolled if is_exporting() else torch.linalg.solve
    theta = solve(system, rhs)  # (..., N + 3, 2)
    return ThinPlateSpline(control_points, theta[..., n:, :].transpose(-1, -2), theta[..., :n, :])


def solve_unrolled(system: Tensor, rhs: Tensor) -> Tensor:
    """Solve ``system @ X = rhs`` by Gaussian elimination with partial pivoting, unrolled
    for the (static) size: what LAPACK's ``getrf``/``getrs`` behind ``torch.linalg.solve``
    compute, in the same order up to float rounding, but written with elementwise
    operations, sums, ``argmax`` and ``where`` only, so that it exports to ONNX (which has
    no solve) and to TensorRT (no scatter: rows are swapped by selection, not by
    assignment). Differentiable; meant for small systems (the 8x8 TPS systems).

    Args:
        system: (..., n, n), non-singular.
        rhs: (..., n, m).

    Returns:
        (..., n, m) solution ``X``.
    """
    n = system.shape[-1]
    rows = torch.arange(n, device=system.device)
    aug = torch.cat((system, rhs), dim=-1)  # (..., n, n + m)
    for k in range(n - 1):
        # Pivot: the row at or below k with the largest magnitude in column k (the first
        # of equals, as LAPACK's isamax); the rows above k are out of the running.
        column = aug[..., :, k].abs()
        candidates = torch.where(rows >= k, column, torch.full_like(column, -1.0))
        is_pivot = (rows == candidates.argmax(dim=-1, keepdim=True)).unsqueeze(-1)  # (..., n, 1)
        pivot = torch.where(is_pivot, aug, torch.zeros_like(aug)).sum(dim=-2, keepdim=True)
        current = aug[..., k : k + 1, :]
        aug = torch.where((rows == k).unsqueeze(-1), pivot, torch.where(is_pivot, current, aug))
        # Eliminate below the pivot; the rows at or above k keep their values exactly.
        factors = aug[..., :, k : k + 1] / pivot[..., :, k : k + 1]
        factors = torch.where((rows > k).unsqueeze(-1), factors, torch.zeros_like(factors))
        aug = aug - factors * pivot
    upper, values = aug[..., :, :n], aug[..., :, n:]
    # Back substitution, column by column (as LAPACK's trsm).
    solution: list[Tensor] = []
    for k in reversed(range(n)):
        x = values[..., k : k + 1, :] / upper[..., k : k + 1, k : k + 1]  # (..., 1, m)
        solution.insert(0, x)
        if k:
            column = upper[..., :, k : k + 1]
            above = torch.where((rows < k).unsqueeze(-1), column, torch.zeros_like(column))
            values = values - above * x
    return torch.cat(solution, dim=-2)


@in_full_precision
def apply_tps(tps: ThinPlateSpline, points: Tensor) -> Tensor:
    """Map points through thin-plate splines.

    Args:
        tps: splines with leading shape ``S`` (e.g. (B, K)).
        points: (*S', P, 2) points, where ``S'`` broadcasts against ``S`` (e.g. (1, 1)
            for one set of points shared by every spline).

    Returns:
        (*broadcast(S, S'), P, 2) mapped points.
    """
    affine = tps.affine
    linear = points @ affine[..., :2].transpose(-1, -2) + affine[..., 2].unsqueeze(-2)
    basis = tps_radial_basis(_squared_distances(points, tps.control_points))
    return linear + basis @ tps.kernel_weights


def tps_warp_grid(tps: ThinPlateSpline, height: int, width: int) -> Tensor:
    """Sampling grids of thin-plate splines evaluated on an (height, width) coordinate grid.

    Args:
        tps: splines with leading shape ``S`` (e.g. (B, K)).

    Returns:
        (*S, height, width, 2) grids for :func:`warp` (x, y in [-1, 1] space).
    """
    grid = coordinate_grid(height, width, dtype=tps.affine.dtype, device=tps.affine.device).reshape(
        height * width, 2
    )
    mapped = apply_tps(tps, grid)
    return mapped.reshape(*mapped.shape[:-2], height, width, 2)


class RandomTPS(NamedTuple):
    """The random deformation of the equivariance loss (no solve).

    Attributes:
        theta: (B, 2, 3) affine part, identity plus N(0, sigma_affine) noise.
        control_params: (B, 1, G) one scalar ``c_j`` per control point.
        control_points: (G, 2) the control points, a regular grid in [-1, 1].

    A point ``x`` maps to ``theta[:, :2] x + theta[:, 2] + sum_j c_j U(|x - g_j|^2)``;
    the scalar sum is added to both x and y, as in the authors' code.
    """

    theta: Tensor
    control_params: Tensor
    control_points: Tensor


def sample_random_tps(
    batch_size: int,
    sigma_affine: float,
    sigma_tps: float,
    points_tps: int,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
    device=None,
) -> RandomTPS:
    """Draw the equivariance loss's random TPS: theta = I + N(0, sigma_affine) (B, 2, 3),
    control_params ~ N(0, sigma_tps) (B, 1, points_tps^2) on a points_tps x points_tps
    control grid."""
    noise = torch.randn((batch_size, 2, 3), generator=generator, dtype=dtype, device=device)
    theta = noise * sigma_affine + torch.eye(2, 3, dtype=dtype, device=device)
    params = torch.randn(
        (batch_size, 1, points_tps**2), generator=generator, dtype=dtype, device=device
    )
    return make_random_tps(theta, params * sigma_tps, points_tps)


def make_random_tps(theta: Tensor, control_params: Tensor, points_tps: int = 5) -> RandomTPS:
    """A :class:`RandomTPS` from given parameters (theta (B, 2, 3), control_params
    (B, 1, points_tps^2)); the control points are the regular points_tps^2 grid."""
    grid = coordinate_grid(points_tps, points_tps, dtype=theta.dtype, device=theta.device)
    return RandomTPS(theta, control_params, grid.reshape(-1, 2))


@in_full_precision
def apply_random_tps(transform: RandomTPS, points: Tensor) -> Tensor:
    """Map (B or 1, P, 2) points through a :class:`RandomTPS` -> (B, P, 2)."""
    theta = transform.theta
    linear = points @ theta[:, :, :2].transpose(1, 2) + theta[:, :, 2].unsqueeze(1)
    basis = tps_radial_basis(_squared_distances(points, transform.control_points))
    shift = (basis * transform.control_params).sum(-1, keepdim=True)  # (B, P, 1)
    return linear + shift


def random_tps_grid(transform: RandomTPS, height: int, width: int) -> Tensor:
    """Sampling grid (B, height, width, 2) of a :class:`RandomTPS` on an (h, w) image."""
    grid = coordinate_grid(
        height, width, dtype=transform.theta.dtype, device=transform.theta.device
    ).reshape(1, height * width, 2)
    return apply_random_tps(transform, grid).reshape(-1, height, width, 2)


def to_homogeneous(points: Tensor) -> Tensor:
    """Append a coordinate of ones: (..., 2) -> (..., 3)."""
    return torch.cat((points, torch.ones_like(points[..., :1])), dim=-1)


def from_homogeneous(points: Tensor) -> Tensor:
    """Divide by the last coordinate: (..., 3) -> (..., 2)."""
    return points[..., :2] / points[..., 2:3]


@in_full_precision
def apply_projective(matrix: Tensor, points: Tensor) -> Tensor:
    """Map points by 3x3 matrices in homogeneous coordinates.

    Args:
        matrix: (B, 3, 3).
        points: (B, ..., 2) points (the dimensions between B and 2 are any).

    Returns:
        (B, ..., 2): ``from_homogeneous(matrix @ to_homogeneous(points))``.
    """
    batch = matrix.shape[0]
    view = (batch,) + (1,) * (points.dim() - 2) + (3, 3)
    mapped = (matrix.view(view) @ to_homogeneous(points).unsqueeze(-1)).squeeze(-1)
    return from_homogeneous(mapped)


def background_grid(matrix: Tensor, height: int, width: int) -> Tensor:
    """The background transform's sampling grid (B, height, width, 2).

    ``matrix`` (B, 3, 3) maps driving coordinates to source coordinates (the background
    predictor's output): the identity grid in homogeneous coordinates, multiplied by the
    matrix and divided by its third coordinate.
    """
    grid = coordinate_grid(height, width, dtype=matrix.dtype, device=matrix.device)
    return apply_projective(matrix, grid.unsqueeze(0).expand(matrix.shape[0], -1, -1, -1))


def resize_flow(flow: Tensor, height: int, width: int) -> Tensor:
    """Resize a (B, h, w, 2) flow / sampling grid to (B, height, width, 2) bilinearly
    (align_corners=True); returned unchanged when it already has that size."""
    if flow.shape[1] == height and flow.shape[2] == width:
        return flow
    resized = F.interpolate(
        flow.permute(0, 3, 1, 2), size=(height, width), mode="bilinear", align_corners=True
    )
    return resized.permute(0, 2, 3, 1)


def warp(image: Tensor, grid: Tensor, padding_mode: str = "zeros") -> Tensor:
    """Sample ``image`` (B, C, H, W) at ``grid`` (B, h, w, 2) in [-1, 1] coordinates.

    Bilinear, ``align_corners=True``; ``padding_mode`` ``"zeros"`` everywhere in the model,
    ``"reflection"`` for the equivariance loss's frame warp. If the grid's size differs
    from the image's it is resized with :func:`resize_flow` first, as the inpainting
    network does for its feature maps. Returns (B, C, h', w') with the image's size when
    the grid was resized, else the grid's size. A float16/bfloat16 image is sampled in
    float32 at the grid's full-precision coordinates and returned in its own dtype.
    """
    if grid.shape[1:3] != image.shape[2:]:
        grid = resize_flow(grid, image.shape[2], image.shape[3])
    if image.dtype in (torch.float16, torch.bfloat16) and grid.dtype != image.dtype:
        # Coordinates keep full precision: bfloat16 would misplace samples by a pixel.
        sampled = F.grid_sample(
            image.float(), grid.float(), "bilinear", padding_mode, align_corners=True
        )
        return sampled.to(image.dtype)
    return F.grid_sample(
        image, grid.to(image.dtype), mode="bilinear", padding_mode=padding_mode, align_corners=True
    )


def keypoint_heatmaps(keypoints: Tensor, height: int, width: int, variance: float) -> Tensor:
    """Gaussian heatmaps ``exp(-0.5 |grid - kp|^2 / variance)`` of keypoints.

    Args:
        keypoints: (B, N, 2) in [-1, 1].
        variance: the configured ``kp_variance`` (0.01 in every published config).

    Returns:
        (B, N, height, width).
    """
    grid = coordinate_grid(height, width, dtype=keypoints.dtype, device=keypoints.device)
    diff = grid.view(1, 1, height, width, 2) - keypoints.view(*keypoints.shape[:2], 1, 1, 2)
    return torch.exp(-0.5 * diff.pow(2).sum(-1) / variance)


def flush_subnormals(x: Tensor) -> Tensor:
    """``x`` with its subnormal values (nonzero, below ``torch.finfo(x.dtype).tiny`` in
    magnitude) set to zero; any shape, floating point.

    Each value changes by less than ``tiny`` (1.2e-38 in float32), far below any
    rounding of the values it meets. Why: x86 CPUs compute on subnormal operands up to
    about a hundred times slower, and the convolutions that read them (oneDNN's) run
    2-4x slower when their input holds some; Gaussian heatmaps fade into that range a
    few widths from their keypoints.
    """
    return x.masked_fill(x.abs() < torch.finfo(x.dtype).tiny, 0)


def gaussian_kernel(scale: float, *, dtype: torch.dtype = torch.float32) -> Tensor:
    """The authors' anti-aliasing kernel for downsampling by ``scale`` (0 < scale < 1).

    sigma = (1/scale - 1) / 2, size = 2 round(4 sigma) + 1, normalised to sum 1.
    Returns (size, size).
    """
    sigma = (1 / scale - 1) / 2
    size = 2 * round(sigma * 4) + 1
    coords = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    kernel = g.view(-1, 1) * g.view(1, -1)
    return (kernel / kernel.sum()).to(dtype)


def antialias_downsample(image: Tensor, scale: float, kernel: Tensor | None = None) -> Tensor:
    """Blur with :func:`gaussian_kernel` then take every (1/scale)-th pixel.

    Zero padding of ``size // 2`` on each side, a depthwise convolution, then nearest
    interpolation with ``scale_factor=scale`` (what the authors' ``AntiAliasInterpolation2d``
    does). When ``1/scale`` is an integer n, nearest interpolation keeps pixels (n i, n j),
    so the blur is computed only there, by a convolution with stride n: the same
    products and sums, n^2 times less work, forward and backward. ``scale == 1``
    returns the input.

    Args:
        image: (B, C, H, W).
        kernel: optional precomputed depthwise weight (C, 1, k, k) (the dense motion
            network stores it in its state dict).

    Returns:
        (B, C, floor(H * scale), floor(W * scale)).
    """
    if scale == 1:
        return image
    channels = image.shape[1]
    if kernel is None:
        kernel = gaussian_kernel(scale, dtype=image.dtype).to(image.device)
        kernel = kernel.expand(channels, 1, *kernel.shape)
    pad = kernel.shape[-1] // 2
    padded = F.pad(image, (pad, pad, pad, pad))
    kernel = kernel.to(image.dtype)
    step = round(1 / scale)
    if abs(step * scale - 1) < 1e-12:
        height, width = math.floor(image.shape[2] * scale), math.floor(image.shape[3] * scale)
        out = F.conv2d(padded, kernel, stride=step, groups=channels)
        return out[:, :, :height, :width]
    blurred = F.conv2d(padded, kernel, groups=channels)
    return F.interpolate(blurred, scale_factor=(scale, scale), mode="nearest")


def convex_hull_area(points: Tensor) -> Tensor:
    """Area of the convex hull of (N, 2) points (N >= 3), in float64 (Andrew's monotone
    chain, then the shoelace formula); 0 for collinear points."""
    pts = sorted({(float(x), float(y)) for x, y in points.detach().double().cpu().tolist()})
    if len(pts) < 3:
        return torch.zeros((), dtype=torch.float64)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    hull = lower[:-1] + upper[:-1]
    area = 0.0
    for (x0, y0), (x1, y1) in zip(hull, hull[1:] + hull[:1], strict=True):
        area += x0 * y1 - x1 * y0
    return torch.tensor(math.fabs(area) / 2, dtype=torch.float64)


def convex_hull_area_batched(points: Tensor) -> Tensor:
    """Area of the convex hull of each set of (B, N, 2) points -> (B,), in the points'
    dtype, with tensor operations only, so that it exports to ONNX (where
    :func:`convex_hull_area`'s monotone chain cannot go) and needs no loop on N.

    Gift wrapping: every point's successor is the point with the fewest others strictly
    to the right of the line towards it (beyond rounding), the farthest of those; the hull
    is the chain of successors from the lowest point (then the leftmost), found by
    squaring the successor relation, and its area half the shoelace sum over the chain.
    Repeated points and points between two hull vertices on an edge drop out; points all
    on a line give 0, as for :func:`convex_hull_area`. Each choice depends on the points'
    geometry, not on an edge test that rounding could answer both ways for two edges, so
    near-collinear points cost at most a sliver of area.
    """
    n = points.shape[-2]
    edge = points.unsqueeze(-3) - points.unsqueeze(-2)  # (B, N, N, 2): p_j - p_i
    e = edge.unsqueeze(-2)  # (B, N, N, 1, 2)
    o = edge.unsqueeze(-3)  # (B, N, 1, N, 2): p_k - p_i
    along, across = e[..., 0] * o[..., 1], e[..., 1] * o[..., 0]
    # Strictly right of i -> j beyond what rounding the cross product can do (a few ulp
    # of its terms), so that a point on the line never counts against an edge.
    margin = 8 * torch.finfo(points.dtype).eps * (along.abs() + across.abs())
    right = (along - across < -margin).to(points.dtype).sum(-1)  # (B, N, N)
    index = torch.arange(n, device=points.device)
    itself = index.view(n, 1) == index.view(1, n)
    right = torch.where(itself, torch.full_like(right, n), right)
    fewest = right == right.amin(dim=-1, keepdim=True)
    distance = edge.pow(2).sum(-1)
    reach = torch.where(fewest, distance, torch.full_like(distance, -1.0))
    successor = (index == reach.argmax(dim=-1, keepdim=True)).to(points.dtype)  # (B, N, N)
    # Points reachable from each in at most 64 steps (N <= 64 is a whole tour).
    steps = successor + torch.eye(n, dtype=points.dtype, device=points.device)
    for _ in range(max(1, math.ceil(math.log2(max(n, 2))))):
        steps = (steps @ steps).clamp(max=1.0)
    x, y = points[..., 0], points[..., 1]
    lowest = y == y.amin(dim=-1, keepdim=True)
    start = torch.where(lowest, x, torch.full_like(x, math.inf)).argmin(dim=-1, keepdim=True)
    on_hull = (steps * (index == start).to(points.dtype).unsqueeze(-1)).sum(-2)  # (B, N)
    shoelace = x.unsqueeze(-1) * y.unsqueeze(-2) - x.unsqueeze(-2) * y.unsqueeze(-1)
    total = (shoelace * successor).sum(-1) * on_hull
    return total.sum(-1).abs() / 2
