"""GeneratorObjective on a small model: which terms apply when, gradients, randomness,
memory layouts, DistributedDataParallel; and the fast pyramid against the reference one."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from trainer_helpers import random_vgg

import tpsmm
from float32_bounds import network_rtol
from tiny_model import tiny_config
from tpsmm.networks import VGG19Features
from tpsmm.training import LOSS_NAMES, GeneratorObjective, generator_losses

#: The terms of the authors' configs (ours, pixel/pixel_deformed/flow, weigh 0 there).
AUTHORS_LOSSES = LOSS_NAMES[:4]


def small_config(**changes):
    """The tiny model with a background predictor and the authors' vox-256 schedule of
    epochs (background from epoch 10, TPS dropout before 35); dotted-path ``changes``."""
    schedule = tpsmm.preset("vox-256").train_params
    base = tiny_config(bg=True).replace(
        **{
            "train_params.bg_start": schedule.bg_start,
            "train_params.dropout_epoch": schedule.dropout_epoch,
        }
    )
    return base.replace(**changes) if changes else base


@pytest.fixture(scope="module")
def vgg() -> VGG19Features:
    return random_vgg(seed=0)


@pytest.fixture(scope="module")
def frames() -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    source = torch.rand(2, 3, 64, 64, generator=generator)
    driving = (source + 0.1 * torch.rand(2, 3, 64, 64, generator=generator)).clamp(0, 1)
    return source, driving


def small_model(config=None) -> tpsmm.TPSMM:
    torch.manual_seed(1)
    model = tpsmm.TPSMM(config or small_config()).train()
    with torch.no_grad():  # a background predictor that is not exactly the identity
        model.bg_predictor.bg_encoder.fc.weight.normal_(0, 1e-3)
    return model


def test_terms_follow_the_epoch_and_gradients_reach_the_trained_networks(vgg, frames):
    model = small_model()
    objective = GeneratorObjective(model, model.config.train_params, vgg)
    source, driving = frames
    bg_start = model.config.train_params.bg_start

    losses, generated = objective(source, driving, bg_start - 1)
    assert list(losses) == ["perceptual", "equivariance_value", "warp_loss"]
    assert generated["bg_param"] is None

    losses, generated = objective(source, driving, bg_start)
    assert list(losses) == list(AUTHORS_LOSSES)
    assert generated["bg_param"].shape == (2, 3, 3)
    assert generated["prediction"].shape == (2, 3, 64, 64)
    assert generated["deformed"].shape == (2, 3, 64, 64)
    tps = model.config.common.num_tps  # K transforms, K + 1 with the background's
    assert generated["deformed_source"].shape == (2, tps + 1, 3, 16, 16)
    assert generated["contribution_maps"].shape == (2, tps + 1, 16, 16)
    assert generated["transformed_frame"].shape == (2, 3, 64, 64)
    assert generated["transformed_kp"].shape == generated["kp_driving"].shape == (2, 5 * tps, 2)
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())

    sum(losses.values()).backward()
    for name in ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor"):
        grads = [p.grad for p in getattr(model, name).parameters()]
        assert all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name
    assert all(p.grad is None for p in model.avd_network.parameters())
    assert all(p.grad is None for p in vgg.parameters())


def test_zero_weights_skip_terms_and_the_vgg(frames):
    config = small_config(
        **{
            "train_params.loss_weights.perceptual": [0, 0, 0, 0, 0],
            "train_params.loss_weights.equivariance_value": 0,
            "train_params.loss_weights.bg": 0,
        }
    )
    model = small_model(config)
    objective = GeneratorObjective(model, config.train_params, None)  # no VGG looked up
    losses, generated = objective(*frames, epoch=50)
    assert list(losses) == ["warp_loss"]
    assert "transformed_frame" not in generated


def test_no_background_predictor(vgg, frames):
    config = small_config(**{"model_params.common_params.bg": False})
    torch.manual_seed(1)
    model = tpsmm.TPSMM(config).train()
    losses, generated = GeneratorObjective(model, config.train_params, vgg)(*frames, epoch=50)
    assert "bg" not in losses and generated["bg_param"] is None


def test_randomness_comes_from_the_generator(vgg, frames):
    """Before dropout_epoch the TPS dropout and the random TPS are drawn from the given
    generator: the same seed gives the same losses, another seed other ones."""
    model = small_model()
    model.eval()  # BatchNorm running statistics: the three runs see the same networks
    objective = GeneratorObjective(model, model.config.train_params, vgg)
    assert model.config.train_params.dropout_probability(0) == pytest.approx(0.1)

    def run(seed: int) -> dict[str, float]:
        with torch.no_grad():
            losses, _ = objective(*frames, 0, generator=torch.Generator().manual_seed(seed))
        return {k: float(v) for k, v in losses.items()}

    first, again, other = run(3), run(3), run(4)
    assert first == again
    assert first["equivariance_value"] != other["equivariance_value"]


def test_random_transform_and_given_transform_agree(vgg, frames):
    model = small_model().eval()
    objective = GeneratorObjective(model, model.config.train_params, vgg)
    transform = objective.random_transform(2, frames[0], torch.Generator().manual_seed(5))
    assert transform.theta.shape == (2, 2, 3) and transform.control_params.shape == (2, 1, 25)
    with torch.no_grad():
        drawn, _ = objective(*frames, 50, generator=torch.Generator().manual_seed(5))
        given, _ = objective(*frames, 50, random_tps=(transform.theta, transform.control_params))
    assert float(drawn["equivariance_value"]) == float(given["equivariance_value"])


def test_channels_last_gives_the_same_losses(vgg, frames):
    model = small_model().eval()
    params = model.config.train_params
    transform = GeneratorObjective(model, params, vgg).random_transform(2, frames[0])
    with torch.no_grad():
        fast, _ = GeneratorObjective(model, params, vgg, channels_last=True)(
            *frames, 50, random_tps=transform
        )
        plain, _ = GeneratorObjective(model, params, vgg, channels_last=False)(
            *frames, 50, random_tps=transform
        )
    # channels_last reorders every convolution's sums: the losses differ by float32
    # rounding through the networks they pass (float32_bounds.network_rtol: 1e-4 here).
    rtol = network_rtol(model, vgg)
    for key, value in plain.items():
        assert float(fast[key]) == pytest.approx(float(value), rel=rtol), key


def test_generator_losses_accepts_frames_and_mappings(vgg, frames):
    model = small_model().eval()
    source, driving = frames
    as_uint8 = lambda t: (t.permute(0, 2, 3, 1) * 255).round().to(torch.uint8).numpy()  # noqa: E731
    mapping = model.config.to_dict()["train_params"]
    random_tps = (
        np.tile(np.eye(2, 3, dtype=np.float32), (2, 1, 1)),
        np.zeros((2, 1, 25), np.float32),
    )
    with torch.no_grad():
        from_arrays = generator_losses(
            model,
            as_uint8(source),
            as_uint8(driving),
            epoch=50,
            train_params=mapping,
            vgg19_weights=vgg,
            random_tps=random_tps,
        )
        from_tensors = generator_losses(
            model,
            torch.from_numpy(as_uint8(source)).permute(0, 3, 1, 2).float() / 255,
            torch.from_numpy(as_uint8(driving)).permute(0, 3, 1, 2).float() / 255,
            epoch=50,
            train_params=model.config.train_params,
            vgg19_weights=vgg,
            random_tps=random_tps,
        )
    assert set(from_arrays) == set(AUTHORS_LOSSES)
    # The two conversions of uint8 to [0, 1] may round a pixel differently (one ulp); its
    # effect through the networks is below their own rounding noise (network_rtol).
    rtol = network_rtol(model, vgg)
    for key in AUTHORS_LOSSES:
        assert float(from_arrays[key]) == pytest.approx(float(from_tensors[key]), rel=rtol)


def test_distributed_data_parallel_wrapping(vgg, frames, tmp_path):
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        model = small_model()
        model.avd_network.requires_grad_(False)
        objective = GeneratorObjective(model, model.config.train_params, vgg)
        wrapped = torch.nn.parallel.DistributedDataParallel(objective)
        losses, _ = wrapped(*frames, 50)
        sum(losses.values()).backward()
        assert model.kp_detector.fg_encoder.fc.bias.grad is not None
        assert model.bg_predictor.bg_encoder.fc.bias.grad is not None
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_compiled_objective_matches_eager(vgg, frames):
    """``compile=True`` (minutes to build on 2 cores): the same losses and gradients."""
    model = small_model()
    params = model.config.train_params
    transform = GeneratorObjective(model, params, vgg).random_transform(2, frames[0])
    snapshot = {k: v.clone() for k, v in model.state_dict().items()}
    checked = ("kp_detector.fg_encoder.fc.weight", "inpainting_network.final.weight")

    def run(compile_: bool, dtype: torch.dtype = torch.float32):
        model.load_state_dict(snapshot)
        model.to(dtype).zero_grad(set_to_none=True)
        vgg.to(dtype)
        try:
            objective = GeneratorObjective(model, params, vgg, compile=compile_)
            source, driving = (frame.to(dtype) for frame in frames)
            random_tps = type(transform)(*(t.to(dtype) for t in transform))
            losses, _ = objective(source, driving, 50, random_tps=random_tps)
            sum(losses.values()).backward()
            grads = {
                n: p.grad.norm().item() for n, p in model.named_parameters() if p.grad is not None
            }
            return {k: v.item() for k, v in losses.items()}, grads
        finally:
            model.float()
            vgg.float()

    eager, eager_grads = run(False)
    compiled, compiled_grads = run(True)
    _, exact_grads = run(False, torch.float64)
    assert set(eager) == set(compiled)
    # The compiled graph fuses and reorders operations: float32 rounding through the
    # networks (network_rtol, 1e-4).
    rtol = network_rtol(model, vgg)
    for key, value in eager.items():
        assert compiled[key] == pytest.approx(value, rel=rtol), key
    assert set(eager_grads) == set(compiled_grads)
    # A gradient that flows back through the TPS fit carries the rounding of its
    # systems, amplified by their conditioning (the keypoint detector's: eager float32
    # is 1e-3 from float64 here, ten times rtol). The eager gradient's distance from the
    # float64 one measures that noise for this very quantity; two float32 computations
    # of it differ by at most about twice that, plus the networks' rtol each.
    for name in checked:
        noise = abs(eager_grads[name] - exact_grads[name])
        bound = 2 * noise + 2 * rtol * abs(exact_grads[name])
        assert abs(compiled_grads[name] - eager_grads[name]) <= bound, name


def stage_config(**weights: float):
    """The small config with the background from epoch 0, no perceptual or warp loss (no
    inpainting) and the given loss weights."""
    changes = {f"train_params.loss_weights.{name}": value for name, value in weights.items()}
    return small_config(
        **{
            "train_params.bg_start": 0,
            "train_params.loss_weights.perceptual": [0.0] * 5,
            "train_params.loss_weights.warp_loss": 0.0,
            **changes,
        }
    )


def test_a_motion_only_stage_skips_the_inpainting_network(frames):
    """With only the flow, camera, keypoint-motion, equivariance and background losses,
    the forward stops at the dense motion: the inpainting network gets no gradient."""
    config = stage_config(flow=10.0, camera=10.0, keypoint_motion=10.0)
    model = small_model(config)
    objective = GeneratorObjective(model, config.train_params)
    assert not objective.uses_inpainting()
    assert objective.loss_names() == [
        "equivariance_value", "bg", "flow", "camera", "keypoint_motion"
    ]  # fmt: skip
    source, driving = frames
    truth = tpsmm.geometry.coordinate_grid(64, 64).expand(2, -1, -1, -1) + 0.05
    camera = torch.eye(3).repeat(2, 1, 1)
    camera[:, 0, 2] = 0.05
    losses, generated = objective(
        source,
        driving,
        epoch=0,
        flow=truth,
        flow_valid=torch.ones(2, 64, 64, dtype=torch.bool),
        camera=camera,
        camera_valid=torch.tensor([True, False]),
    )
    assert sorted(losses) == sorted(objective.loss_names())
    assert generated["prediction"] is None and generated["deformation"].shape[0] == 2
    sum(losses.values()).backward()
    assert all(p.grad is None for p in model.inpainting_network.parameters())
    for network in (model.kp_detector, model.dense_motion_network, model.bg_predictor):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in network.parameters())


def test_the_warped_source_loss_leaves_pairs_of_known_motion_to_the_flow_loss(frames):
    """With the flow loss on, ``pixel_deformed`` counts only the pairs whose true motion
    is unknown (the first pair here knows it); without it, every pair."""
    from tpsmm.losses import PixelPyramidLoss

    source, driving = frames
    truth = tpsmm.geometry.coordinate_grid(64, 64).expand(2, -1, -1, -1) + 0.05
    valid = torch.zeros(2, 64, 64, dtype=torch.bool)
    valid[0, 8:56, 8:56] = True
    for flow_weight, counted in ((10.0, [False, True]), (0.0, [True, True])):
        config = stage_config(pixel_deformed=100.0, flow=flow_weight)
        model = small_model(config).eval()
        objective = GeneratorObjective(model, config.train_params)
        with torch.no_grad():
            losses, generated = objective(
                source, driving, epoch=0, flow=truth, flow_valid=valid,
                camera=torch.eye(3).repeat(2, 1, 1), camera_valid=torch.tensor([True, False]),
            )  # fmt: skip
            expected = PixelPyramidLoss(config.train_params.scales, 100.0).deformed(
                source, generated["deformation"], driving, torch.tensor(counted)
            )
        assert float(losses["pixel_deformed"]) == pytest.approx(float(expected), rel=1e-6)


def test_a_background_only_stage_runs_and_trains_the_background_predictor_alone(frames):
    """With only the camera, squared camera and background losses, neither the keypoint
    detector nor the dense motion nor the inpainting network runs or gets a gradient."""
    config = stage_config(equivariance_value=0.0, camera=10.0, camera_squared=100.0)
    model = small_model(config)
    objective = GeneratorObjective(model, config.train_params)
    assert not objective.uses_motion() and not objective.uses_inpainting()
    assert objective.loss_names() == ["bg", "camera", "camera_squared"]
    camera = torch.eye(3).repeat(2, 1, 1)
    camera[:, 0, 2] = 0.05
    losses, generated = objective(
        *frames, epoch=0, camera=camera, camera_valid=torch.tensor([True, True])
    )
    assert list(losses) == objective.loss_names()
    assert generated["bg_param"].shape == (2, 3, 3)
    assert generated["deformation"] is None and generated["kp_source"] is None
    sum(losses.values()).backward()
    for network in (model.kp_detector, model.dense_motion_network, model.inpainting_network):
        assert all(p.grad is None for p in network.parameters())
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.bg_predictor.parameters()
    )
