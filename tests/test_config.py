"""Configuration: presets, the authors' YAML files, validation messages."""

from __future__ import annotations

import textwrap

import pytest

import tpsmm
from tpsmm.config import AUTHOR_PRESETS, load_config, preset
from tpsmm.errors import ConfigError

AUTHORS_VOX_YAML = textwrap.dedent(
    """\
    dataset_params:
      root_dir: ../vox
      frame_shape: null
      id_sampling: True
      augmentation_params:
        flip_param:
          horizontal_flip: True
          time_flip: True
        jitter_param:
          brightness: 0.1
          contrast: 0.1
          saturation: 0.1
          hue: 0.1
    model_params:
      common_params:
        num_tps: 10
        num_channels: 3
        bg: True
        multi_mask: True
      generator_params:
        block_expansion: 64
        max_features: 512
        num_down_blocks: 3
      dense_motion_params:
        block_expansion: 64
        max_features: 1024
        num_blocks: 5
        scale_factor: 0.25
      avd_network_params:
        id_bottle_size: 128
        pose_bottle_size: 128
    train_params:
      num_epochs: 100
      num_repeats: 75
      epoch_milestones: [70, 90]
      lr_generator: 2.0e-4
      batch_size: 28
      scales: [1, 0.5, 0.25, 0.125]
      dataloader_workers: 12
      checkpoint_freq: 50
      dropout_epoch: 35
      dropout_maxp: 0.3
      dropout_startp: 0.1
      dropout_inc_epoch: 10
      bg_start: 10
      transform_params:
        sigma_affine: 0.05
        sigma_tps: 0.005
        points_tps: 5
      loss_weights:
        perceptual: [10, 10, 10, 10, 10]
        equivariance_value: 10
        warp_loss: 10
        bg: 10
    train_avd_params:
      num_epochs: 200
      num_repeats: 300
      batch_size: 256
      dataloader_workers: 24
      checkpoint_freq: 50
      epoch_milestones: [140, 180]
      lr: 1.0e-3
      lambda_shift: 1
      lambda_affine: 1
      random_scale: 0.25
    visualizer_params:
      kp_size: 5
      draw_border: True
      colormap: 'gist_rainbow'
    """
)

TABLE = {  # bg, frame size, repeats, batch, startp, maxp, bg_start, avd (epochs, repeats, milestones)
    "vox-256": (True, 256, 75, 28, 0.1, 0.3, 10, (200, 300, [140, 180])),
    "taichi-256": (True, 256, 150, 28, 0.0, 0.7, 0, (100, 150, [70, 90])),
    "ted-384": (True, 384, 150, 12, 0.0, 0.5, 0, (30, 500, [20, 25])),
    "mgif-256": (False, 256, 50, 28, 0.2, 0.5, 0, (100, 50, [70, 90])),
}


@pytest.mark.parametrize("name", AUTHOR_PRESETS)
def test_presets_hold_the_authors_values(name):
    cfg = preset(name)
    bg, size, repeats, batch, startp, maxp, bg_start, avd = TABLE[name]
    train = cfg.train_params
    assert (cfg.common.bg, cfg.frame_size, train.num_repeats, train.batch_size) == (
        bg,
        size,
        repeats,
        batch,
    )
    assert (train.dropout_startp, train.dropout_maxp, train.bg_start) == (startp, maxp, bg_start)
    avd_params = cfg.train_avd_params
    assert (avd_params.num_epochs, avd_params.num_repeats, avd_params.epoch_milestones) == avd
    assert train.lr_generator == 2e-4 and train.epoch_milestones == [70, 90]
    assert train.loss_weights.perceptual == [10] * 5 and train.scales == [1, 0.5, 0.25, 0.125]
    assert cfg.model_params.avd_network_params.id_bottle_size == 128
    if name == "mgif-256":
        assert set(cfg.dataset_params.augmentation_params) == {
            "flip_param",
            "crop_param",
            "resize_param",
            "jitter_param",
        }


def test_authors_yaml_loads_as_is(tmp_path):
    path = tmp_path / "ted-384.yaml"
    path.write_text(AUTHORS_VOX_YAML)
    cfg = load_config(path)
    assert cfg.name == "ted-384" and cfg.frame_size == 384  # size from the file name
    assert cfg.train_params.lr_generator == 2e-4 and cfg.train_params.dataloader_workers == 12
    assert cfg.dataset_params.id_sampling is True
    assert tpsmm.TPSMM(cfg).bg_predictor is not None


def test_dropout_schedule():
    train = preset("vox-256").train_params
    assert train.dropout_probability(0) == pytest.approx(0.1)
    assert train.dropout_probability(5) == pytest.approx(0.25)
    assert train.dropout_probability(34) == pytest.approx(0.3)
    assert train.dropout_probability(35) is None
    off = preset("vox-256").replace(**{"train_params.tps_dropout": False})
    assert off.train_params.dropout_probability(0) is None


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        (
            "model_params:\n  common_params:\n    num_tsp: 10\n",
            "model_params.common_params.num_tsp",
        ),
        (
            "model_params:\n  common_params:\n    num_tps: ten\n",
            "model_params.common_params.num_tps must be an integer",
        ),
        ("model_params:\n  common_params:\n    num_tps: 0\n", "num_tps must be positive"),
        ("model_params:\n  common_params:\n    bg: 3\n", "common_params.bg must be true or false"),
        ("train_params:\n  scales: 1\n", "train_params.scales must be a list"),
        ("train_params:\n  dropout_maxp: 1.5\n", "dropout_maxp must be in"),
        ("train_params:\n  loss_weights:\n    perceptual: [1, 2]\n", "perceptual needs 5 weights"),
        ("unknown_section: {}\n", "unknown config key 'unknown_section'"),
        ("model_params:\n  dense_motion_params:\n    scale_factor: 0.3\n", "scale_factor"),
        ("- a\n- b\n", "must be a mapping"),
    ],
)
def test_invalid_configs_name_the_key(tmp_path, yaml_text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml_text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(path)


def test_unknown_preset_and_unreadable_yaml(tmp_path):
    with pytest.raises(ConfigError, match="neither a preset"):
        load_config("vox-512")
    bad = tmp_path / "broken.yaml"
    bad.write_text("model_params: [unclosed\n")
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(bad)


def test_replace_and_round_trip():
    cfg = preset("vox-256").replace(**{"model_params.common_params.num_tps": 5})
    assert cfg.common.num_tps == 5
    assert tpsmm.config.config_from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown config key"):
        cfg.replace(**{"model_params.common_params.nope": 1})


@pytest.mark.parametrize(
    ("changes", "keys"),
    [
        (
            {"default_frame_size": 64},  # five dense-motion blocks at 64x64: 16 px halves 4 times
            [
                "model_params.dense_motion_params.num_blocks",
                "default_frame_size",
                "use num_blocks <= 4",
            ],
        ),
        (
            {"dataset_params.frame_shape": [96, 96, 3]},  # 24 px halves 3 times
            ["model_params.dense_motion_params.num_blocks", "dataset_params.frame_shape"],
        ),
        (
            {"default_frame_size": 100},
            ["model_params.generator_params.num_down_blocks", "must be a multiple of 8"],
        ),
        (
            {"default_frame_size": 128, "model_params.dense_motion_params.scale_factor": 0.125},
            ["model_params.dense_motion_params.scale_factor 0.125", "16 pixels"],
        ),
    ],
)
def test_depths_that_do_not_fit_the_frame_size_fail_validation(changes, keys):
    with pytest.raises(ConfigError) as caught:
        preset("vox-256").replace(**changes)
    for key in keys:
        assert key in str(caught.value)


def test_depths_that_fit(tmp_path):
    fitting = preset("vox-256").replace(
        **{"default_frame_size": 64, "model_params.dense_motion_params.num_blocks": 4}
    )
    assert fitting.frame_size == 64
    for name in tpsmm.PRESETS:
        preset(name).check_training()


def test_perceptual_scales_must_fit_for_training():
    small = preset("vox-256").replace(
        **{"default_frame_size": 64, "model_params.dense_motion_params.num_blocks": 3}
    )
    with pytest.raises(ConfigError) as caught:
        small.check_training()
    assert str(caught.value) == (
        "train_params.scales: 0.125 of the frame size (default_frame_size: 64) is 8 pixels, "
        "under the 16 the perceptual loss's VGG-19 needs; drop that scale or use a larger "
        "frame size"
    )
    small.replace(**{"train_params.scales": [1, 0.5, 0.25]}).check_training()
    no_perceptual = {"train_params.loss_weights.perceptual": [0.0] * 5}
    small.replace(**no_perceptual).check_training()


def test_a_background_only_stage_needs_the_predictor_from_the_start():
    base = preset("demo")
    background = {
        "train_params.loss_weights.perceptual": [0.0] * 5,
        **{
            f"train_params.loss_weights.{name}": 0.0
            for name in (
                "equivariance_value",
                "warp_loss",
                "pixel",
                "pixel_deformed",
                "flow",
                "keypoint_motion",
                "landmark_keypoints",
                "landmark_flow",
                "landmark_parts",
            )
        },
        "train_params.loss_weights.camera_squared": 1000.0,
    }
    stage = base.replace(**background)
    assert stage.train_params.loss_weights.background_only()
    assert not base.train_params.loss_weights.background_only()
    stage.check_training()
    with pytest.raises(ConfigError, match="bg_start must be 0"):
        stage.replace(**{"train_params.bg_start": 3}).check_training()
    with pytest.raises(ConfigError, match="no background predictor"):
        stage.replace(**{"model_params.common_params.bg": False}).check_training()
    nothing = {f"train_params.loss_weights.{name}": 0.0 for name in ("bg", "camera_squared")}
    with pytest.raises(ConfigError, match="nothing to train"):
        stage.replace(**nothing).check_training()


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("model_params:\n  common_params:\n    num_tps: 10\n   bg: true\n", "line 4, column 4: "),
        ("model_params: [unclosed\ntrain_params: {}\n", "line 2, column 13: "),
        ('dataset_params:\n  root_dir: "data\n', "line 3, column 1: "),
        ("train_params:\n\tnum_epochs: 3\n", "line 2, column 1: "),
    ],
)
def test_broken_yaml_gives_the_line(tmp_path, text, where):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"cannot read config {path}: {where}")
    assert "\n" not in message
