"""Geometry against closed-form cases and gradcheck in float64."""

from __future__ import annotations

import math

import pytest
import torch

from tpsmm import geometry as g

torch.manual_seed(0)


def test_coordinate_grid_align_corners_convention():
    grid = g.coordinate_grid(3, 5)
    assert grid.shape == (3, 5, 2)
    assert torch.equal(grid[0, 0], torch.tensor([-1.0, -1.0]))
    assert torch.equal(grid[-1, -1], torch.tensor([1.0, 1.0]))
    # channel 0 is x along columns, channel 1 is y along rows: x_j = 2j/(w-1) - 1
    assert torch.allclose(grid[1, :, 0], torch.tensor([-1.0, -0.5, 0.0, 0.5, 1.0]))
    assert torch.allclose(grid[:, 2, 1], torch.tensor([-1.0, 0.0, 1.0]))


def _random_points(*shape: int, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(*shape, 2, dtype=dtype) * 1.6 - 0.8


def test_tps_without_ridge_interpolates_control_points():
    p = _random_points(2, 3, 5)
    q = _random_points(2, 3, 5)
    tps = g.fit_tps(p, q, ridge=0)
    assert torch.allclose(g.apply_tps(tps, p), q, atol=1e-10)


def test_tps_of_affinely_related_points_has_zero_kernel_weights():
    p = _random_points(4, 5)
    a = torch.tensor([[1.1, -0.2], [0.3, 0.9]], dtype=torch.float64)
    t = torch.tensor([0.05, -0.1], dtype=torch.float64)
    q = p @ a.T + t
    tps = g.fit_tps(p, q, ridge=0)
    assert torch.allclose(tps.kernel_weights, torch.zeros_like(tps.kernel_weights), atol=1e-10)
    expected = torch.cat((a, t[:, None]), dim=1).expand(4, 2, 3)
    assert torch.allclose(tps.affine, expected, atol=1e-10)
    x = _random_points(4, 7)
    assert torch.allclose(g.apply_tps(tps, x), x @ a.T + t, atol=1e-10)


def test_authors_ridge_makes_equal_keypoints_not_an_exact_identity():
    p = _random_points(1, 5)
    identity = g.fit_tps(p, p, ridge=0)
    ridged = g.fit_tps(p, p)
    x = _random_points(1, 9)
    assert torch.allclose(g.apply_tps(identity, x), x, atol=1e-10)
    assert not torch.allclose(g.apply_tps(ridged, x), x, atol=1e-6)


def test_tps_gradients_finite_when_keypoints_coincide():
    p = _random_points(1, 5, dtype=torch.float32)
    p[0, 1] = p[0, 0]
    p.requires_grad_(True)
    q = _random_points(1, 5, dtype=torch.float32).requires_grad_(True)
    grid = g.tps_warp_grid(g.fit_tps(p, q), 8, 8)
    # a grid point coinciding with a control point too
    on_point = g.apply_tps(g.fit_tps(p, q), p)
    (grid.sum() + on_point.sum()).backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()


def test_tps_warp_grid_matches_pointwise_application():
    p, q = _random_points(2, 3, 5), _random_points(2, 3, 5)
    tps = g.fit_tps(p, q)
    grid = g.tps_warp_grid(tps, 4, 6)
    assert grid.shape == (2, 3, 4, 6, 2)
    points = g.coordinate_grid(4, 6, dtype=torch.float64).reshape(1, 1, -1, 2)
    assert torch.allclose(grid.reshape(2, 3, -1, 2), g.apply_tps(tps, points))


def test_tps_gradcheck_float64():
    p = _random_points(1, 5).requires_grad_(True)
    q = _random_points(1, 5).requires_grad_(True)
    x = _random_points(1, 4).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p, q, x: g.apply_tps(g.fit_tps(p, q), x), (p, q, x))


def test_random_tps_identity_and_scalar_shift():
    theta = torch.eye(2, 3, dtype=torch.float64).expand(2, 2, 3)
    zero = torch.zeros(2, 1, 25, dtype=torch.float64)
    x = _random_points(2, 6)
    assert torch.allclose(g.apply_random_tps(g.make_random_tps(theta, zero), x), x)
    params = torch.randn(2, 1, 25, dtype=torch.float64) * 0.01
    shifted = g.apply_random_tps(g.make_random_tps(theta, params), x) - x
    # one scalar per point, added to both x and y
    assert torch.allclose(shifted[..., 0], shifted[..., 1])
    grid = g.random_tps_grid(g.make_random_tps(theta, params), 3, 4)
    assert grid.shape == (2, 3, 4, 2)


def test_sample_random_tps_statistics():
    gen = torch.Generator().manual_seed(1)
    t = g.sample_random_tps(4000, 0.05, 0.005, 5, generator=gen)
    assert t.theta.shape == (4000, 2, 3) and t.control_params.shape == (4000, 1, 25)
    assert t.control_points.shape == (25, 2)
    noise = t.theta - torch.eye(2, 3)
    assert abs(noise.std().item() - 0.05) < 0.002
    assert abs(t.control_params.std().item() - 0.005) < 0.0002


def test_random_tps_gradcheck_float64():
    theta = torch.eye(2, 3, dtype=torch.float64) + 0.05 * torch.randn(2, 2, 3, dtype=torch.float64)
    params = 0.01 * torch.randn(2, 1, 25, dtype=torch.float64)
    x = _random_points(2, 3)
    inputs = (theta.requires_grad_(), params.requires_grad_(), x.requires_grad_())
    assert torch.autograd.gradcheck(
        lambda th, c, pts: g.apply_random_tps(g.make_random_tps(th, c), pts), inputs
    )


def test_homogeneous_round_trip_and_projective():
    x = _random_points(2, 4)
    assert torch.allclose(g.from_homogeneous(g.to_homogeneous(x)), x)
    m = torch.eye(3, dtype=torch.float64).repeat(2, 1, 1)
    m[:, :2, 2] = torch.tensor([0.1, -0.2], dtype=torch.float64)
    assert torch.allclose(
        g.apply_projective(m, x), x + torch.tensor([0.1, -0.2], dtype=torch.float64)
    )
    m[:, 2, 2] = 2.0
    assert torch.allclose(
        g.apply_projective(m, x), (x + torch.tensor([0.1, -0.2], dtype=torch.float64)) / 2
    )


def test_background_grid_identity_and_gradcheck():
    eye = torch.eye(3, dtype=torch.float64).expand(2, 3, 3)
    assert torch.allclose(
        g.background_grid(eye, 5, 4),
        g.coordinate_grid(5, 4, dtype=torch.float64).expand(2, 5, 4, 2),
    )
    m = (eye + 0.05 * torch.randn(2, 3, 3, dtype=torch.float64)).requires_grad_()
    assert torch.autograd.gradcheck(lambda m: g.background_grid(m, 3, 3), (m,))


def test_warp_identity_grid_is_exact_and_zero_padded_outside():
    image = torch.rand(2, 3, 6, 7)
    identity = g.coordinate_grid(6, 7).expand(2, 6, 7, 2)
    assert torch.allclose(g.warp(image, identity), image, atol=1e-6)
    outside = torch.full((2, 6, 7, 2), 3.0)
    assert torch.equal(g.warp(image, outside), torch.zeros(2, 3, 6, 7))
    reflected = g.warp(image, outside, padding_mode="reflection")
    assert reflected.abs().sum() > 0


def test_warp_resizes_a_coarser_flow_to_the_image():
    image = torch.rand(1, 2, 8, 8)
    identity = g.coordinate_grid(4, 4).unsqueeze(0)
    assert torch.allclose(g.warp(image, identity), image, atol=1e-6)


def test_warp_gradcheck_float64():
    image = torch.rand(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    grid = (torch.rand(1, 3, 3, 2, dtype=torch.float64) * 1.8 - 0.9).requires_grad_()
    assert torch.autograd.gradcheck(g.warp, (image, grid))


def test_resize_flow_keeps_linear_fields():
    identity = g.coordinate_grid(4, 4).unsqueeze(0)
    assert torch.allclose(
        g.resize_flow(identity, 9, 7), g.coordinate_grid(9, 7).unsqueeze(0), atol=1e-6
    )
    assert g.resize_flow(identity, 4, 4) is identity


def test_keypoint_heatmaps_peak_and_width():
    kp = torch.tensor([[[0.0, 0.0], [-1.0, 1.0]]])
    maps = g.keypoint_heatmaps(kp, 5, 5, variance=0.01)
    assert maps.shape == (1, 2, 5, 5)
    assert maps[0, 0, 2, 2] == 1.0 and maps[0, 1, 4, 0] == 1.0
    # one pixel away is 0.5 in normalised units: exp(-0.5 * 0.25 / 0.01)
    assert torch.isclose(maps[0, 0, 2, 3], torch.exp(torch.tensor(-12.5)))
    kp64 = kp.double().requires_grad_()
    assert torch.autograd.gradcheck(lambda k: g.keypoint_heatmaps(k, 4, 4, 0.5), (kp64,))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_flush_subnormals_zeroes_only_the_subnormal_values(dtype):
    info = torch.finfo(dtype)
    smallest = torch.tensor(info.tiny * info.eps, dtype=dtype)  # the smallest subnormal
    values = torch.tensor([0.0, info.tiny, -info.tiny, 1.0, -3.0, info.max], dtype=dtype)
    subnormal = torch.stack([smallest, -smallest, smallest * 4]).to(dtype)
    assert (subnormal != 0).all() and (subnormal.abs() < info.tiny).all()
    flushed = g.flush_subnormals(torch.cat([values, subnormal]))
    assert torch.equal(flushed[: len(values)], values)
    assert (flushed[len(values) :] == 0).all()


def test_dense_motion_input_holds_no_subnormal_heatmap_values():
    """Gaussian heatmaps fade through the subnormal range a few widths from their
    keypoints; the dense motion network's convolutions must not see those values (they
    run 2-4x slower on x86 CPUs)."""
    from tiny_model import tiny_model

    model = tiny_model()
    network = model.dense_motion_network
    source = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    kp_source = model.keypoints(source)
    kp_driving = kp_source + 0.05
    small = network.downsample(source)
    raw = g.keypoint_heatmaps(kp_driving, *small.shape[2:], network.kp_variance)
    assert ((raw != 0) & (raw.abs() < torch.finfo(raw.dtype).tiny)).any()
    seen = []
    hook = network.hourglass.register_forward_pre_hook(lambda module, args: seen.append(args[0]))
    with torch.no_grad():
        network(source, kp_source, kp_driving)
    hook.remove()
    hourglass_input = seen[0]
    tiny = torch.finfo(hourglass_input.dtype).tiny
    assert not ((hourglass_input != 0) & (hourglass_input.abs() < tiny)).any()


@pytest.mark.parametrize(("scale", "size"), [(0.5, 5), (0.25, 13), (0.125, 29)])
def test_gaussian_kernel_size_and_normalisation(scale, size):
    kernel = g.gaussian_kernel(scale)
    assert kernel.shape == (size, size)
    assert torch.isclose(kernel.sum(), torch.tensor(1.0))
    assert torch.equal(kernel, kernel.T)


def test_antialias_downsample_shape_constant_and_gradcheck():
    image = torch.ones(1, 3, 64, 64)
    out = g.antialias_downsample(image, 0.25)
    assert out.shape == (1, 3, 16, 16)
    assert torch.allclose(out[..., 2:-2, 2:-2], torch.ones(1, 3, 12, 12), atol=1e-6)
    assert g.antialias_downsample(image, 1) is image
    small = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: g.antialias_downsample(x, 0.5), (small,))


@pytest.mark.parametrize("size", [64, 50, 37])
def test_antialias_downsample_equals_blurring_then_nearest_sampling(size):
    """The strided convolution for integer factors gives the authors' numbers."""
    image = torch.rand(2, 3, size, size + 3, generator=torch.Generator().manual_seed(size))
    for scale in (0.5, 0.25, 0.125, 0.3):
        kernel = g.gaussian_kernel(scale).expand(3, 1, -1, -1)
        pad = kernel.shape[-1] // 2
        blurred = torch.nn.functional.conv2d(
            torch.nn.functional.pad(image, (pad, pad, pad, pad)), kernel, groups=3
        )
        expected = torch.nn.functional.interpolate(blurred, scale_factor=(scale, scale))
        got = g.antialias_downsample(image, scale)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_convex_hull_area():
    square = torch.tensor(
        [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [0.0, 0.0], [0.3, 0.2]]
    )
    assert float(g.convex_hull_area(square)) == pytest.approx(4.0)
    triangle = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.5, 0.0]])
    assert float(g.convex_hull_area(triangle)) == pytest.approx(0.5)
    collinear = torch.tensor([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    assert float(g.convex_hull_area(collinear)) == 0.0


def _tps_systems(count: int, spread: float | None, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random TPS systems L + 0.01 I (count, 8, 8) and right-hand sides (count, 8, 2) in
    float64, built as :func:`tpsmm.geometry.fit_tps` builds them; ``spread``: keypoints
    drawn around one point at that distance (None: anywhere in [-0.8, 0.8])."""
    generator = torch.Generator().manual_seed(seed)
    p = torch.rand(count, 5, 2, generator=generator, dtype=torch.float64) * 1.6 - 0.8
    if spread is not None:
        p = p[:, :1] + spread * torch.randn(count, 5, 2, generator=generator, dtype=torch.float64)
    q = torch.rand(count, 5, 2, generator=generator, dtype=torch.float64) * 2 - 1
    kernel = g.tps_radial_basis(((p[:, :, None] - p[:, None]) ** 2).sum(-1))
    ones = torch.ones(count, 5, 1, dtype=torch.float64)
    top = torch.cat((kernel, p, ones), dim=-1)
    bottom = torch.cat((p.transpose(1, 2), ones.transpose(1, 2)), dim=1)
    bottom = torch.cat((bottom, torch.zeros(count, 3, 3, dtype=torch.float64)), dim=-1)
    system = torch.cat((top, bottom), dim=1) + g.TPS_RIDGE * torch.eye(8, dtype=torch.float64)
    rhs = torch.cat((q, torch.zeros(count, 3, 2, dtype=torch.float64)), dim=1)
    return system, rhs


@pytest.mark.parametrize("spread", [None, 0.1, 0.01, 0.001])
def test_unrolled_solve_matches_torch_solve(spread):
    """The exportable elimination: float64 equal to torch.linalg.solve to float64
    rounding, float32 within the error torch.linalg.solve itself makes in float32
    (both against float64, relative to cond(L) * eps)."""
    system, rhs = _tps_systems(4000, spread, seed=1)
    exact = torch.linalg.solve(system, rhs)
    cond = torch.linalg.cond(system)
    scale = exact.abs().amax(dim=(-1, -2))
    got64 = g.solve_unrolled(system, rhs)
    err64 = (got64 - exact).abs().amax(dim=(-1, -2)) / scale
    assert (err64 <= 8 * cond * torch.finfo(torch.float64).eps).all()

    eps32 = torch.finfo(torch.float32).eps
    torch32 = torch.linalg.solve(system.float(), rhs.float()).double()
    ours32 = g.solve_unrolled(system.float(), rhs.float()).double()
    err_torch = (torch32 - exact).abs().amax(dim=(-1, -2)) / scale / (cond * eps32)
    err_ours = (ours32 - exact).abs().amax(dim=(-1, -2)) / scale / (cond * eps32)
    # Backward stable like LAPACK: the error is a small multiple of cond(L) * eps at
    # worst and the same as torch's in the typical case.
    assert float(err_ours.max()) <= max(4.0, 2 * float(err_torch.max()))
    assert float(err_ours.median()) <= 1.5 * float(err_torch.median())


def test_unrolled_solve_pivots_and_gradcheck():
    # A zero on the diagonal needs a row swap; gradients in float64 by gradcheck.
    system = torch.tensor([[0.0, 2.0, 1.0], [1.0, 1.0, 0.0], [3.0, 0.0, 1.0]], dtype=torch.float64)
    rhs = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.float64)
    torch.testing.assert_close(g.solve_unrolled(system, rhs), torch.linalg.solve(system, rhs))
    tps_system, tps_rhs = _tps_systems(3, None, seed=2)
    inputs = (tps_system.requires_grad_(True), tps_rhs.requires_grad_(True))
    assert torch.autograd.gradcheck(g.solve_unrolled, inputs)


def test_fit_tps_uses_the_unrolled_solve_when_exporting(monkeypatch):
    p, q = _random_points(2, 3, 5), _random_points(2, 3, 5)
    eager = g.fit_tps(p, q)
    monkeypatch.setattr(g, "is_exporting", lambda: True)
    monkeypatch.setattr(torch.linalg, "solve", None)  # would fail if called
    exported = g.fit_tps(p, q)
    for a, b in zip(eager, exported, strict=True):
        torch.testing.assert_close(a, b)


def _hull_cases() -> list[torch.Tensor]:
    """50 points each: random, on a coarse grid (many collinear and repeated points),
    near one line, on an ellipse (every point on the hull), with repeats."""
    generator = torch.Generator().manual_seed(3)
    cases = []
    for _ in range(6):
        cases.append(torch.rand(50, 2, generator=generator) * 2 - 1)
        cases.append(torch.round((torch.rand(50, 2, generator=generator) * 2 - 1) * 3) / 3)
        t = torch.rand(50, generator=generator) * 2 - 1
        line = torch.stack((t, 0.3 * t + 0.1), dim=-1)
        line[:5] = torch.rand(5, 2, generator=generator) * 2 - 1
        cases.append(line)
        angle = torch.rand(50, generator=generator) * 2 * math.pi
        cases.append(torch.stack((0.7 * angle.cos(), 0.4 * angle.sin()), dim=-1))
        repeated = torch.rand(50, 2, generator=generator) * 2 - 1
        repeated[10:30] = repeated[:20].clone()
        cases.append(repeated)
    return cases


def test_batched_convex_hull_area_matches_monotone_chain():
    cases = _hull_cases()
    batched = g.convex_hull_area_batched(torch.stack(cases))
    for points, area in zip(cases, batched, strict=True):
        expected = float(g.convex_hull_area(points))
        assert float(area) == pytest.approx(expected, rel=1e-5, abs=1e-7)
    square = torch.tensor([[[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0], [0.0, 0.0]]])
    assert float(g.convex_hull_area_batched(square)[0]) == 4.0
    collinear = torch.tensor([[[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.5, 0.5]]])
    assert float(g.convex_hull_area_batched(collinear)[0]) == 0.0


def test_coordinates_keep_their_dtype_under_autocast():
    """Under training's bfloat16 autocast the TPS fit, its grid and the background grid
    are computed in float32 as without autocast (bfloat16 would round them to 1/128)."""
    generator = torch.Generator().manual_seed(3)
    kp_driving = torch.rand(2, 10, 5, 2, generator=generator) * 1.6 - 0.8
    kp_source = kp_driving + 0.05 * torch.randn(2, 10, 5, 2, generator=generator)
    matrix = torch.eye(3).repeat(2, 1, 1)
    matrix[:, :2] += 0.01 * torch.randn(2, 2, 3, generator=generator)
    equivariance = g.sample_random_tps(2, 0.05, 0.005, 5, generator=generator)

    def coordinates() -> list[torch.Tensor]:
        return [
            g.tps_warp_grid(g.fit_tps(kp_driving, kp_source), 16, 16),
            g.background_grid(matrix, 16, 16),
            g.random_tps_grid(equivariance, 16, 16),
        ]

    expected = coordinates()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        actual = coordinates()
    for a, e in zip(actual, expected, strict=True):
        assert a.dtype == torch.float32
        assert torch.equal(a, e)
