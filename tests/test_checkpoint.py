"""Checkpoint loading and saving: the authors' layout, foreign keys, every error path."""

from __future__ import annotations

import os
import pickle
import stat
import warnings
import zipfile
from pathlib import Path

import pytest
import torch

import tpsmm
from tiny_model import tiny_model
from tpsmm.checkpoint import (
    AUTHORS_PRESETS,
    ConfigNotice,
    checkpoint_config,
    convert_checkpoint,
    load_model,
    read_checkpoint,
    save_checkpoint,
)
from tpsmm.errors import CheckpointError
from tpsmm.files import PARTIAL_MARK, atomic_path


@pytest.fixture(scope="module")
def tiny_bg_model() -> tpsmm.TPSMM:
    """The tiny model with a background predictor: every network of the authors' layout."""
    return tiny_model(bg=True)


def authors_layout(model: tpsmm.TPSMM, *, avd: bool = True, prefix: str = "") -> dict:
    """A dict as the authors' trainer saves it, optimizer states and epoch included."""
    data = {
        name: {prefix + k: v.clone() for k, v in getattr(model, name).state_dict().items()}
        for name in ("kp_detector", "dense_motion_network", "inpainting_network", "bg_predictor")
    }
    if avd:
        data["avd_network"] = dict(model.avd_network.state_dict())
    data["optimizer"] = {"state": {}, "param_groups": [{"lr": 2e-4, "params": [0, 1]}]}
    data["epoch"] = 99
    return data


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_authors_file_loads_with_explicit_config(tmp_path, tiny_bg_model):
    path = tmp_path / "authors.pth.tar"
    torch.save(authors_layout(tiny_bg_model), path)
    model = load_model(path, tiny_bg_model.config)
    assert not model.training and model.avd_available
    assert same_weights(model, tiny_bg_model)


def test_authors_reference_checkpoint_loads_without_config(reference_model):
    assert reference_model.config.common.num_tps == 10 and reference_model.frame_size == 256
    assert reference_model.bg_predictor is not None and reference_model.avd_available


def test_dataparallel_prefixes_are_stripped(tmp_path, tiny_bg_model):
    path = tmp_path / "dp.pth.tar"
    torch.save(authors_layout(tiny_bg_model, prefix="module."), path)
    assert same_weights(load_model(path, tiny_bg_model.config), tiny_bg_model)


def test_file_without_avd_loads_and_avd_mode_refuses(tmp_path, tiny_bg_model):
    path = tmp_path / "no_avd.pth.tar"
    torch.save(authors_layout(tiny_bg_model, avd=False), path)
    model = load_model(path, tiny_bg_model.config)
    assert not model.avd_available
    kp = torch.zeros(1, 10, 2)
    with pytest.raises(tpsmm.TPSMMError, match="avd mode needs an AVD network"):
        model.avd(kp, kp)
    with pytest.raises(tpsmm.TPSMMError, match="avd mode needs an AVD network"):
        tpsmm.Animator(model, torch.zeros(64, 64, 3, dtype=torch.uint8).numpy(), mode="avd")


@pytest.mark.parametrize("suffix", [".pth.tar", ".safetensors"])
def test_save_and_load_round_trip_describes_itself(tmp_path, tiny_bg_model, suffix):
    path = save_checkpoint(tmp_path / f"model{suffix}", tiny_bg_model)
    model = load_model(path)  # no config: the one stored in the file
    assert model.config == tiny_bg_model.config
    assert same_weights(model, tiny_bg_model)
    assert not list(tmp_path.glob(f".*{PARTIAL_MARK}*"))


def test_saved_file_is_in_the_authors_layout(tmp_path, tiny_bg_model):
    path = save_checkpoint(tmp_path / "m.pth.tar", tiny_bg_model, {"epoch": 3})
    raw = torch.load(path, weights_only=True)
    assert {
        "kp_detector",
        "dense_motion_network",
        "inpainting_network",
        "bg_predictor",
        "avd_network",
    } <= set(raw)
    assert raw["epoch"] == 3 and "fg_encoder.fc.bias" in raw["kp_detector"]


def test_missing_entry_is_named(tmp_path, tiny_bg_model):
    data = authors_layout(tiny_bg_model)
    del data["dense_motion_network"]["maps.weight"]
    torch.save(data, tmp_path / "m.pth.tar")
    with pytest.raises(CheckpointError, match=r"lacks dense_motion_network\.maps\.weight"):
        load_model(tmp_path / "m.pth.tar", tiny_bg_model.config)


def test_missing_network_is_named(tmp_path, tiny_bg_model):
    data = authors_layout(tiny_bg_model)
    del data["inpainting_network"]
    torch.save(data, tmp_path / "m.pth.tar")
    with pytest.raises(CheckpointError, match="has no inpainting_network"):
        load_model(tmp_path / "m.pth.tar", tiny_bg_model.config)


def test_unexpected_entry_is_named(tmp_path, tiny_bg_model):
    data = authors_layout(tiny_bg_model)
    data["kp_detector"]["extra.weight"] = torch.zeros(1)
    torch.save(data, tmp_path / "m.pth.tar")
    with pytest.raises(CheckpointError, match=r"unexpected entry kp_detector\.extra\.weight"):
        load_model(tmp_path / "m.pth.tar", tiny_bg_model.config)


def test_background_predictor_against_config_without_one(tmp_path, tiny_bg_model):
    torch.save(authors_layout(tiny_bg_model), tmp_path / "m.pth.tar")
    no_bg = tiny_bg_model.config.replace(**{"model_params.common_params.bg": False})
    with pytest.raises(CheckpointError, match="no background predictor"):
        load_model(tmp_path / "m.pth.tar", no_bg)


def test_wrong_shape_is_named(tmp_path, tiny_bg_model):
    torch.save(authors_layout(tiny_bg_model), tmp_path / "m.pth.tar")
    wider = tiny_bg_model.config.replace(**{"model_params.common_params.num_tps": 3})
    with pytest.raises(
        CheckpointError, match=r"kp_detector\.fg_encoder\.fc\.weight has shape \(20, 512\)"
    ):
        load_model(tmp_path / "m.pth.tar", wider)


def test_truncated_and_foreign_files(tmp_path, tiny_bg_model):
    good = save_checkpoint(tmp_path / "good.pth.tar", tiny_bg_model)
    truncated = tmp_path / "truncated.pth.tar"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(CheckpointError) as caught:
        load_model(truncated)
    assert str(caught.value) == (
        f"cannot read checkpoint {truncated}: the file is truncated or damaged "
        "(its zip archive is incomplete)"
    )
    foreign = tmp_path / "image.pth.tar"
    foreign.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(CheckpointError) as caught:
        load_model(foreign)
    assert str(caught.value) == (
        f"cannot read checkpoint {foreign}: it is not a PyTorch checkpoint (neither a "
        "torch.save zip archive nor a pickle of tensors)"
    )
    empty = tmp_path / "empty.pth.tar"
    empty.touch()
    with pytest.raises(CheckpointError, match=r"empty\.pth\.tar: the file is empty$"):
        load_model(empty)
    text = tmp_path / "notes.pth.tar"
    text.write_text("some text, not weights")  # torch.load raises KeyError for it
    with pytest.raises(CheckpointError, match="it is not a PyTorch checkpoint"):
        load_model(text)
    archive = tmp_path / "archive.pth.tar"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.writestr("notes.txt", "not a checkpoint")
    with pytest.raises(CheckpointError, match=r"a zip archive but not one torch\.save wrote$"):
        load_model(archive)
    for damaged in (truncated, foreign, empty, text, archive):  # no PyTorch text
        with pytest.raises(CheckpointError) as caught:
            load_model(damaged)
        assert "weights_only" not in str(caught.value) and "PyTorch 2" not in str(caught.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "missing.pth.tar")
    torch.save({"weights": [1, 2, 3]}, tmp_path / "other.pth.tar")
    with pytest.raises(CheckpointError, match="holds no TPSMM networks"):
        load_model(tmp_path / "other.pth.tar")
    bad_st = tmp_path / "bad.safetensors"
    bad_st.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_model(bad_st)


class _Exploit:
    """Unpickling this would create a marker file, i.e. run code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoint_with_code_is_refused_and_never_executed(tmp_path, tiny_bg_model):
    marker = tmp_path / "executed"
    data = authors_layout(tiny_bg_model)
    data["payload"] = _Exploit(marker)
    path = tmp_path / "evil.pth.tar"
    with path.open("wb") as f:
        torch.save(data, f, pickle_module=pickle)
    with pytest.raises(CheckpointError) as caught:
        read_checkpoint(path)
    assert str(caught.value).startswith(
        f"refusing checkpoint {path}: it holds Python objects other than tensors ("
    )
    assert str(caught.value).endswith("), and loading it could run code")
    assert not marker.exists()


def test_convert_checkpoint_accepts_flat_layouts(tiny_bg_model):
    flat = {f"module.{k}": v for k, v in tiny_bg_model.state_dict().items()}
    assert convert_checkpoint(flat).keys() == tiny_bg_model.state_dict().keys()


@pytest.mark.parametrize(
    ("name", "preset_name", "size"),
    [
        ("ted.pth.tar", "ted-384", 384),
        ("Taichi.pth", "taichi-256", 256),
    ],
)
def test_authors_file_name_picks_its_preset(
    reference_checkpoint, tmp_path, name, preset_name, size
):
    """The published checkpoints hold no config; their names say which preset they are."""
    link = tmp_path / name
    link.symlink_to(reference_checkpoint)
    with pytest.warns(ConfigNotice) as notices:
        model = load_model(link)
    assert model.config.name == preset_name and model.frame_size == size
    # warnings.catch_warnings records every thread's: count only the config's notices
    config_notices = [n for n in notices if issubclass(n.category, ConfigNotice)]
    assert len(config_notices) == 1
    assert str(config_notices[0].message).startswith(
        f"{name} holds no config: the {preset_name} preset"
    )


@pytest.mark.parametrize("name", ["vox", "taichi", "ted", "mgif"])
def test_every_authors_name_has_its_preset(name):
    """(mgif-256 has no background predictor, so the reference weights do not fit it.)"""
    with pytest.warns(ConfigNotice, match=f"the {AUTHORS_PRESETS[name]} preset"):
        config = checkpoint_config({}, {}, f"/models/{name}.pth.tar")
    assert config == tpsmm.preset(AUTHORS_PRESETS[name])


def test_unknown_authors_file_name_keeps_vox_256_and_says_so(reference_checkpoint):
    with pytest.warns(ConfigNotice, match="not named as an authors' checkpoint") as notices:
        model = load_model(reference_checkpoint)
    assert "vox-256 architecture at 256x256" in str(notices[0].message)
    assert model.frame_size == 256 and model.config.common.num_tps == 10


def test_a_config_given_or_stored_means_no_notice(reference_checkpoint, tmp_path, tiny_bg_model):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConfigNotice)
        load_model(reference_checkpoint, "vox-256")
        load_model(save_checkpoint(tmp_path / "vox.pth.tar", tiny_bg_model))


def test_files_are_written_with_the_usual_mode(tmp_path, tiny_bg_model):
    """Checkpoints and other run files get 0666 less the umask, as open() gives, not the
    0600 of a temporary file."""
    previous = os.umask(0o022)
    try:
        path = save_checkpoint(tmp_path / "model.pth.tar", tiny_bg_model)
        with atomic_path(tmp_path / "config.yaml") as tmp:
            tmp.write_text("a: 1\n")
        os.umask(0o002)
        shared = save_checkpoint(tmp_path / "shared.pth.tar", tiny_bg_model)
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "config.yaml").stat().st_mode) == 0o644
    assert stat.S_IMODE(shared.stat().st_mode) == 0o664
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "config.yaml",
        "model.pth.tar",
        "shared.pth.tar",
    ]


def test_partial_load_copies_what_fits_and_says_what_did_not():
    """A model with a heatmap keypoint head started from a regression model's weights:
    every network but the detector's head is copied; the head keeps its initialisation,
    the regression layers are left out, and one line says so. Strict loading refuses."""
    from tiny_model import tiny_config_dict
    from tpsmm.checkpoint import load_state
    from tpsmm.config import config_from_dict

    source = tiny_model()
    data = tiny_config_dict()
    data["model_params"]["common_params"]["keypoint_head"] = "heatmap"
    target = tpsmm.TPSMM(config_from_dict(data))
    fresh_head = {k: v.clone() for k, v in target.state_dict().items() if "heatmap_head" in k}
    with pytest.raises(CheckpointError):
        load_state(target, source.state_dict())
    note = load_state(target, source.state_dict(), partial=True)
    assert note is not None
    assert "kp_detector.heatmap_head" in note and "kp_detector.fg_encoder.layer4" in note
    assert same_weights(target.inpainting_network, source.inpainting_network)
    assert same_weights(target.kp_detector.fg_encoder.layer1, source.kp_detector.fg_encoder.layer1)
    for key, value in fresh_head.items():
        assert torch.equal(target.state_dict()[key], value)
    assert load_state(source, source.state_dict(), partial=True) is None
