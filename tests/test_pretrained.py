"""The bundled demo model: loads by name, its config and size, and it animates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import tpsmm
from tpsmm.errors import CheckpointError, ConfigError
from tpsmm.media import fit_frame, load_image, read_video
from tpsmm.pretrained import BUNDLED_MODELS, INFO_KEY, bundled_path, pack_checkpoint

ASSETS = Path(tpsmm.__file__).resolve().parent / "assets"
#: The configurations of `make demo-model`'s stages after the first (configs/demo-model).
DEMO_STAGES = Path(__file__).resolve().parents[1] / "configs" / "demo-model"
#: Parameters of the demo preset (keypoint detector, dense motion, inpainting, AVD,
#: background predictor), which the bundled file must match.
DEMO_PARAMETERS = {
    "kp_detector": 441_026,
    "dense_motion_network": 2_529_077,
    "inpainting_network": 1_553_283,
    "avd_network": 2_583_652,
    "bg_predictor": 1_580_838,
}


@pytest.fixture(scope="module")
def demo() -> tpsmm.TPSMM:
    return tpsmm.load_model("demo")


def test_loads_by_name_with_its_config(demo):
    assert demo.config.name == "demo" and demo.config.frame_size == 128
    assert demo.config.model_params == tpsmm.preset("demo").model_params
    assert not demo.training and demo.avd_available
    counts = {
        name: sum(p.numel() for p in getattr(demo, name).parameters()) for name in DEMO_PARAMETERS
    }
    assert counts == DEMO_PARAMETERS
    assert all(p.dtype == torch.float32 for p in demo.parameters())


def test_the_file_is_small_and_describes_itself():
    path = bundled_path("demo")
    assert path.parent == ASSETS and path.name == BUNDLED_MODELS["demo"]
    assert path.stat().st_size <= 25 * 10**6
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert raw["tpsmm_config"]["name"] == "demo"
    assert raw[INFO_KEY]["command"]
    for network in ("kp_detector", "dense_motion_network", "inpainting_network"):
        floats = [v for v in raw[network].values() if v.is_floating_point()]
        assert floats and all(v.dtype == torch.float16 for v in floats)


def test_a_file_named_like_a_bundled_model_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="demo"):
        tpsmm.load_model("demo")


def test_pack_keeps_the_networks_in_float16(tmp_path):
    model = tpsmm.TPSMM("demo")
    full = tpsmm.save_checkpoint(tmp_path / "run.pth.tar", model, {"epoch": 3, "optimizer": {}})
    packed = pack_checkpoint(full, tmp_path / "packed.pth.tar", info={"steps": 1})
    raw = torch.load(packed, map_location="cpu", weights_only=True)
    assert "optimizer" not in raw and "epoch" not in raw and raw[INFO_KEY] == {"steps": 1}
    loaded = tpsmm.load_model(packed)
    for name, value in model.state_dict().items():
        if value.is_floating_point():
            np.testing.assert_array_equal(
                loaded.state_dict()[name].numpy(), value.half().float().numpy()
            )


def test_pack_can_carry_another_config_of_the_same_networks(tmp_path):
    stage = tpsmm.preset("demo").replace(**{"train_params.lr_generator": 5e-4})
    model = tpsmm.TPSMM(stage)
    full = tpsmm.save_checkpoint(tmp_path / "stage.pth.tar", model)
    packed = pack_checkpoint(full, tmp_path / "packed.pth.tar", config="demo")
    assert tpsmm.load_model(packed).config == tpsmm.preset("demo")
    with pytest.raises(ConfigError, match="other networks"):
        pack_checkpoint(full, tmp_path / "other.pth.tar", config="vox-256")


#: Stages 1-7 of `make demo-model` (synthetic videos of known motion) train the demo
#: networks with the authors' regression keypoint head; the face stages the preset's.
FACE_STAGES = {
    "faces-keypoints",
    "faces",
    "faces-opening-keypoints",
    "faces-opening-motion",
    "faces-opening",
}


@pytest.mark.parametrize("stage", sorted(p.stem for p in DEMO_STAGES.glob("*.yaml")))
def test_the_demo_model_stages_train_the_demo_networks(stage):
    """Each stage of `make demo-model` starts from the previous checkpoint: the same
    networks as the demo preset (the synthetic stages with the regression keypoint head,
    which stage 8 replaces), with targets for its motion losses (the synthetic videos'
    true motion, or the faces' landmarks)."""
    config = tpsmm.load_config(DEMO_STAGES / f"{stage}.yaml")
    demo = tpsmm.preset("demo")
    if stage not in FACE_STAGES:
        demo = demo.replace(**{"model_params.common_params.keypoint_head": "regression"})
        assert config.dataset_params.ground_truth_motion
    else:
        assert config.dataset_params.landmarks
    assert config.model_params == demo.model_params
    assert config.frame_size == 128


def test_animates_the_sample_following_the_driving_frames(demo):
    """Reconstruction of the sample video's last fifth from its first frame: the bundled
    model explains part of the motion, so its frames are closer to the driving frames than
    the source is (the no-motion baseline). Its figures on faces it never saw are
    `tpsmm benchmark-faces`'s (benchmarks/RESULTS.md)."""
    frames = read_video(ASSETS / "driving.mp4")
    held_out = np.stack([fit_frame(f, 128, "crop") for f in frames[int(len(frames) * 0.8) :]])
    source, driving = held_out[0], held_out[1:]
    predicted = tpsmm.animate(demo, source, driving, mode="standard", batch_size=8)
    real = driving.astype(np.float32) / 255
    l1 = np.abs(predicted - real).mean()
    still = np.abs(source.astype(np.float32) / 255 - real).mean()
    assert l1 < still
    # Animating the bundled photo: the frames move (differ from each other and from
    # the source) and stay images.
    photo = fit_frame(load_image(ASSETS / "source.png"), 128, "crop")
    animated = tpsmm.animate(demo, photo, driving[::4], mode="relative")
    assert animated.min() >= 0 and animated.max() <= 1
    assert np.abs(animated - photo / 255).mean() > 0.005
    assert np.abs(np.diff(animated, axis=0)).mean() > 0.001
