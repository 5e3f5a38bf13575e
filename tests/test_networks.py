"""Network structure: the authors' names, parameter counts, shapes for every preset."""

from __future__ import annotations

import pytest
import torch

import tpsmm
from tpsmm.networks import ResNet18, VGG19Features, tps_dropout_softmax

AUTHORS_PARAMETER_COUNTS = {
    "kp_detector": 11_227_812,
    "dense_motion_network": 37_941_397,
    "inpainting_network": 24_737_283,
    "avd_network": 2_583_652,
    "bg_predictor": 11_188_998,
}


@pytest.fixture(scope="module")
def layout(reference_layout) -> dict:
    return reference_layout


@pytest.fixture(scope="module")
def vox() -> tpsmm.TPSMM:
    return tpsmm.TPSMM("vox-256")


def test_state_dict_is_the_authors_layout(vox, layout):
    expected = [
        (f"{module}.{key}", tuple(shape))
        for module, entries in layout["modules"].items()
        for key, shape, _ in entries
    ]
    actual = [(key, tuple(value.shape)) for key, value in vox.state_dict().items()]
    assert actual == expected


def test_named_parameters_follow_the_same_names(vox, layout):
    names = {f"{m}.{k}" for m, entries in layout["modules"].items() for k, _, _ in entries}
    for name, _ in vox.named_parameters():
        assert name in names


def test_parameter_counts_equal_the_authors(vox):
    for module, count in AUTHORS_PARAMETER_COUNTS.items():
        assert sum(p.numel() for p in getattr(vox, module).parameters()) == count, module


def test_vgg19_has_torchvision_names(layout):
    """The layers through relu5_1 carry torchvision's names; deeper ones are not built."""
    vgg = VGG19Features()
    ours = [(k, tuple(v.shape)) for k, v in vgg.state_dict().items()]
    assert ours == [(k, tuple(s)) for k, s, _ in layout["vgg19"]][: len(ours)]
    assert ours[-1][0] == "features.28.bias"
    full = {k: torch.zeros(s) for k, s, _ in layout["vgg19"]} | {
        "classifier.0.weight": torch.zeros(1)
    }
    vgg.load_torchvision_state_dict(full)
    assert all(float(p.detach().abs().sum()) == 0 for p in vgg.parameters())
    features = vgg(torch.rand(1, 3, 32, 32))
    assert [f.shape[1] for f in features] == [64, 128, 256, 512, 512]
    assert [f.shape[-1] for f in features] == [32, 16, 8, 4, 2]


def test_resnet18_has_torchvision_names():
    names = list(ResNet18().state_dict())
    assert names[:2] == ["conv1.weight", "bn1.weight"]
    assert "layer2.0.downsample.0.weight" in names and "layer4.1.bn2.running_var" in names
    assert names[-2:] == ["fc.weight", "fc.bias"]
    assert sum(p.numel() for p in ResNet18().parameters()) == 11_689_512  # torchvision's count


@pytest.mark.parametrize("name", tpsmm.PRESETS)
@torch.no_grad()
def test_output_shapes_for_every_preset(name):
    model = tpsmm.TPSMM(name).eval()
    size = model.frame_size
    assert size == {"ted-384": 384, "demo": 128}.get(name, 256)
    source, driving = torch.rand(1, 3, size, size), torch.rand(2, 3, size, size)
    kp_s, kp_d = model.keypoints(source), model.keypoints(driving)
    assert kp_d.shape == (2, 50, 2) and kp_d.abs().max() <= 1
    motion = model.motion(source, kp_s, kp_d)
    h = size // 4
    assert motion["deformation"].shape == (2, h, h, 2)
    assert motion["contribution_maps"].shape == (2, 11, h, h)
    assert [m.shape[-1] for m in motion["occlusion_maps"]] == [h // 2, h, 2 * h, 4 * h]
    out = model.generate(source, kp_s, kp_d)
    assert out.shape == (2, 3, size, size) and out.min() >= 0 and out.max() <= 1
    assert model.avd(kp_s, kp_d).shape == (2, 50, 2)
    if model.config.common.bg:
        assert model.background(driving, driving).shape == (2, 3, 3)
    else:
        assert model.bg_predictor is None
        with pytest.raises(tpsmm.TPSMMError, match="no background predictor"):
            model.background(driving, driving)


@torch.no_grad()
def test_ablation_variants_single_mask_and_fewer_tps():
    config = tpsmm.preset("vox-256").replace(
        **{
            "model_params.common_params.multi_mask": False,
            "model_params.common_params.num_tps": 4,
            "model_params.common_params.bg": False,
        }
    )
    model = tpsmm.TPSMM(config).eval()
    assert model.bg_predictor is None
    assert "bg_predictor.bg_encoder.fc.bias" not in model.state_dict()
    source, driving = torch.rand(1, 3, 128, 128), torch.rand(2, 3, 128, 128)
    kp_s, kp_d = model.keypoints(source), model.keypoints(driving)
    assert kp_d.shape == (2, 20, 2)
    motion = model.motion(source, kp_s, kp_d)
    assert motion["contribution_maps"].shape == (2, 5, 32, 32)
    assert [m.shape[-1] for m in motion["occlusion_maps"]] == [32]
    assert model.generate(source, kp_s, kp_d).shape == (2, 3, 128, 128)


def test_background_predictor_starts_at_identity():
    model = tpsmm.TPSMM("vox-256").eval()
    frames = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(model.background(frames, frames), torch.eye(3).expand(2, 3, 3))


def test_tps_dropout_softmax():
    logits = torch.randn(64, 11, 4, 4)
    gen = torch.Generator().manual_seed(0)
    maps = tps_dropout_softmax(logits, 0.5, gen)
    kept = maps.amax(dim=(2, 3)) > 0
    assert kept[:, 0].all()  # the background is always kept
    assert 0.3 < kept[:, 1:].float().mean() < 0.7  # per sample and transform, not per pixel
    # the authors' formula: keep * exp(M - max) / (sum keep * exp(M - max) + 1e-6)
    keep = (maps.amax(dim=(2, 3)) > 0).float()[:, :, None, None]
    exp = (logits - logits.amax(1, keepdim=True)).exp() * keep
    torch.testing.assert_close(maps, exp / (exp.sum(1, keepdim=True) + 1e-6))
    no_drop = tps_dropout_softmax(logits, 0.0)
    assert torch.allclose(no_drop, torch.softmax(logits, 1), atol=1e-5)


def test_regression_heads_keep_float32_under_autocast():
    """Training's --precision bf16 autocasts the forward; the keypoint detector's and the
    background predictor's final layers still run in float32, so an output bfloat16
    cannot hold (1 + 1e-3, 2 * sigmoid(0.3) - 1) comes out exactly as without autocast."""
    model = tpsmm.TPSMM("demo").eval()
    bias = torch.tensor([1 + 1e-3, 2e-4, 3e-4, -1e-4, 1 - 1e-3, 5e-4])
    with torch.no_grad():
        model.bg_predictor.bg_encoder.fc.weight.zero_()
        model.bg_predictor.bg_encoder.fc.bias.copy_(bias)
        model.kp_detector.fg_encoder.fc.weight.zero_()
        model.kp_detector.fg_encoder.fc.bias.fill_(0.3)
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        matrices = model.background(images, images.flip(0))
        keypoints = model.keypoints(images)
    assert matrices.dtype == keypoints.dtype == torch.float32
    assert torch.equal(matrices[:, :2].reshape(2, 6), bias.expand(2, 6))
    assert torch.equal(
        keypoints, torch.full_like(keypoints, 2 * torch.sigmoid(torch.tensor(0.3)) - 1)
    )


def _heatmap_detector(num_tps: int = 2, width: int = 8):
    from tpsmm.networks import KeypointDetector

    return KeypointDetector(num_tps, 3, width=width, head="heatmap").eval()


def test_heatmap_head_has_no_regression_layers_and_stays_in_the_frame():
    detector = _heatmap_detector()
    names = {name.split(".")[1] for name, _ in detector.named_parameters() if "fg_encoder" in name}
    assert "layer4" not in names and "fc" not in names
    assert any(name.startswith("heatmap_head.") for name, _ in detector.named_parameters())
    with torch.no_grad():
        keypoints = detector(torch.rand(3, 3, 64, 48))
    assert keypoints.shape == (3, 10, 2) and keypoints.dtype == torch.float32
    assert float(keypoints.abs().max()) < 1


def test_heatmap_soft_argmax_finds_a_peak_at_its_cell_centre():
    """A heatmap peaked on one cell gives that cell's centre in the image's normalised
    coordinates: cell (row 2, column 5) of a 16x12 map over a 64x48 image spans pixels
    x 20..23, y 8..11, centre (21.5, 9.5)."""
    from tpsmm.networks.keypoint_detector import HeatmapHead

    head = HeatmapHead(width=4, num_keypoints=1)
    with torch.no_grad():
        for module in (head.lateral, head.out):
            module.weight.zero_()
            module.bias.zero_()
        head.out.bias.fill_(0.0)
    fine = torch.zeros(1, 4, 12, 16)
    coarse = torch.zeros(1, 16, 3, 4)

    def forced(features):  # the fused features replaced by a peaked logit map
        logits = torch.full((1, 1, 12, 16), -60.0)
        logits[0, 0, 2, 5] = 60.0
        return logits

    head.out.forward = forced  # type: ignore[method-assign]
    keypoint = head(fine, coarse, (48, 64))[0, 0]
    expected = torch.tensor([2 * 21.5 / 63 - 1, 2 * 9.5 / 47 - 1])
    torch.testing.assert_close(keypoint, expected)
