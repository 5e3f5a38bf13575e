"""The synthetic videos: ground truth that is right, determinism, the dataset layout."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tpsmm import geometry
from tpsmm.cli import main
from tpsmm.data import build_dataset
from tpsmm.synthetic import (
    RenderParams,
    photo_pool,
    read_ground_truth,
    render_video,
    write_dataset,
)
from tpsmm.synthetic.motion import object_map

#: Frames are rounded to 8 bits: frame t and frame 0 each carry up to half a level of
#: rounding, and bilinear interpolation of frame 0 (weights summing to 1) keeps its
#: error within half a level. Anything above one level (plus float64 noise) would mean
#: the deformation, the validity mask or the texture lattice is wrong.
ONE_LEVEL = 1 / 255 + 1e-9


@pytest.fixture(scope="module")
def videos():
    params = RenderParams(frame_size=64, num_frames=6, margin_pixels=12, num_points=24)
    pool = photo_pool("train").photos
    return [render_video(np.random.default_rng([7, i]), params, pool) for i in range(3)]


def _frames(video) -> torch.Tensor:
    return torch.from_numpy(video.frames).permute(0, 3, 1, 2).double() / 255


def test_warping_frame_0_by_the_deformation_gives_frame_t_on_valid_pixels(videos):
    for video in videos:
        frames = _frames(video)
        deformation = torch.from_numpy(video.truth.deformation).double()
        warped = geometry.warp(frames[:1].expand(len(frames), -1, -1, -1), deformation)
        error = (warped - frames).abs().amax(dim=1)
        valid = torch.from_numpy(video.truth.valid)
        assert 0.5 < valid.double().mean() < 1.0  # most pixels known, occlusion present
        assert float(error[valid].max()) <= ONE_LEVEL
        # The mask is needed: off it, frame 0 does not explain frame t.
        assert float(error[~valid].mean()) > 10 / 255


def test_frame_0_is_the_identity(videos):
    identity = geometry.coordinate_grid(64, 64).numpy()
    for video in videos:
        np.testing.assert_allclose(video.truth.deformation[0], identity, atol=1e-6)
        np.testing.assert_allclose(video.truth.camera[0], np.eye(3), atol=1e-7)
        # Frame 0 is known everywhere except the band around the object's soft edge.
        alpha = video.truth.alpha[0]
        assert video.truth.valid[0][(alpha == 0) | (alpha == 1)].mean() > 0.75
        assert not video.truth.valid[0][(alpha > 0) & (alpha < 1)].any()


def _sample(image: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear samples (C, P) of a (C, H, W) image at points (P, 2)."""
    grid = points.view(1, 1, -1, 2)
    return F.grid_sample(image[None], grid, "bilinear", align_corners=True)[0, :, 0]


def test_tracked_points_agree_with_the_deformation(videos):
    for video in videos:
        truth = video.truth
        start = torch.from_numpy(truth.points[0]).double()
        np.testing.assert_array_equal(truth.points_visible[0], True)
        checked = 0
        for t in range(1, len(video.frames)):
            where = torch.from_numpy(truth.points[t]).double()
            deformation = torch.from_numpy(truth.deformation[t]).double().permute(2, 0, 1)
            valid = torch.from_numpy(truth.valid[t]).double()[None]
            # Where all four neighbouring pixels are valid (no edge between them), the
            # deformation interpolated at the point's position in frame t leads back to
            # where it started; the deformation is smooth there, so linear
            # interpolation errs by far less than a tenth of a pixel.
            inside = (_sample(valid, where)[0] == 1) & torch.from_numpy(truth.points_visible[t])
            back = _sample(deformation, where).T
            error_pixels = (back - start).norm(dim=-1) * (video.frames.shape[2] - 1) / 2
            if inside.any():
                assert float(error_pixels[inside].max()) < 0.1
            checked += int(inside.sum())
        assert checked > len(start)
        on = torch.from_numpy(truth.points_on_object)
        assert bool(on.any()) and bool((~on).any())


def test_object_points_invert_the_object_map():
    from tpsmm.synthetic.motion import MotionParams, object_positions, sample_motion

    rng = np.random.default_rng(3)
    motion = sample_motion(rng, 8, MotionParams(), np.array([0.1, -0.2]), 0.5)
    points = torch.as_tensor(rng.uniform(-0.5, 0.5, (50, 2)))
    for t in range(8):
        moved = object_positions(motion, t, points)
        assert float((object_map(motion, t, moved) - points).abs().max()) < 1e-10


def test_a_seed_gives_the_same_dataset(tmp_path):
    params = RenderParams(frame_size=32, num_frames=3, margin_pixels=6, num_points=8)
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_dataset(tmp_path / name, 3, seed=seed, params=params, test_fraction=0.34)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.png"))
    assert len(files) == 9
    for file in files:
        assert (tmp_path / "a" / file).read_bytes() == (tmp_path / "b" / file).read_bytes()
    different = sum(
        (tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes() for f in files
    )
    assert different == len(files)
    a = read_ground_truth(tmp_path / "a" / "test" / "synth-00002")
    b = read_ground_truth(tmp_path / "b" / "test" / "synth-00002")
    assert a is not None and b is not None
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_the_cli_writes_the_authors_layout(tmp_path, capsys):
    root = tmp_path / "synth"
    status = main(
        ["synth", "--out", str(root), "--videos", "5", "--frames", "4", "--size", "32",
         "--seed", "1", "--sample-clips", "2", "--workers", "0", "--no-progress"]
    )  # fmt: skip
    assert status == 0
    assert "4 training and 1 test videos, 2 sample-video clips" in capsys.readouterr().out
    train = sorted(p.name for p in (root / "train").iterdir())
    assert train == ["sample#00", "sample#01"] + [
        f"synth-{i:05d}{suffix}" for i in range(4) for suffix in ("", ".npz")
    ]
    assert sorted(p.name for p in (root / "test").iterdir()) == [
        "sample-heldout", "synth-00004", "synth-00004.npz"
    ]  # fmt: skip
    manifest = json.loads((root / "synth.json").read_text())
    assert manifest["seed"] == 1 and manifest["image_set"] == "train"
    assert not any("skimage" in source for source in manifest["photos"])
    # The sample video's held-out part is its last 20 % (169 frames: 34 of them).
    assert len(list((root / "test" / "sample-heldout").iterdir())) == 169 - int(169 * 0.8)
    # The training loader reads it, and ignores the ground-truth files.
    dataset = build_dataset({"root_dir": str(root)}, is_train=True)
    assert len(dataset.videos) == 6
    item = dataset[0]
    assert item["source"].shape == (3, 32, 32)


def test_an_existing_dataset_is_not_overwritten(tmp_path):
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "keep.txt").write_text("mine")
    with pytest.raises(Exception, match="already exists"):
        write_dataset(tmp_path / "root", 2, params=RenderParams(frame_size=32, num_frames=2))
    assert (tmp_path / "root" / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_the_heldout_images_are_kept_apart():
    train, heldout = photo_pool("train"), photo_pool("heldout")
    assert train.sources and heldout.sources
    assert all(source.startswith("skimage/") for source in heldout.sources)
    assert not any(source.startswith("skimage/") for source in train.sources)
    # Only the first 80 % of the sample video may be trained on.
    frames = [s for s in train.sources if "driving.mp4" in s]
    assert max(int(s.rsplit(" ", 1)[1]) for s in frames) < int(169 * 0.8)


def test_training_items_carry_the_ground_truth(tmp_path):
    params = RenderParams(frame_size=32, num_frames=4, margin_pixels=6, num_points=8)
    root = tmp_path / "gt"
    write_dataset(root, 3, seed=2, params=params, test_fraction=0.34, sample_clips=1)
    dataset = build_dataset(
        {
            "root_dir": str(root),
            "frame_shape": [32, 32, 3],
            "ground_truth_motion": True,
            "augmentation_params": {"flip_param": {"horizontal_flip": True, "time_flip": True}},
        },
        is_train=True,
    )
    dataset.set_epoch(0)
    names = [p.name for p in dataset.videos]
    assert names == ["sample#00", "synth-00000", "synth-00001"]
    for index, name in enumerate(names):
        for draw in range(4):
            item = dataset.get_item(index, draw)
            assert item["flow"].shape == (32, 32, 2) and item["flow_valid"].shape == (32, 32)
            if name.startswith("sample"):
                assert not item["flow_valid"].any() and not bool(item["camera_valid"])
                assert torch.equal(item["camera"], torch.eye(3))
                continue
            # Frame 0 is the source, unflipped, and the flow is the stored deformation.
            frames = read_ground_truth(root / "train" / name)
            video = dataset.videos[index]
            first = np.asarray(Image.open(sorted(video.iterdir())[0]), np.float32)
            np.testing.assert_allclose(
                item["source"].permute(1, 2, 0).numpy() * 255, first, atol=1e-3
            )
            matches = [
                t
                for t in range(4)
                if np.array_equal(item["flow"].numpy(), frames.deformation[t])
                and np.array_equal(item["flow_valid"].numpy(), frames.valid[t])
            ]
            assert matches and bool(item["camera_valid"])
            assert any(np.array_equal(item["camera"].numpy(), frames.camera[t]) for t in matches)
    # Resized to another frame size: the flow stays in normalised units.
    small = build_dataset(
        {"root_dir": str(root), "frame_shape": [16, 16, 3], "ground_truth_motion": True},
        is_train=True,
    )
    item = small.get_item(1, 0)
    assert item["flow"].shape == (16, 16, 2)
    corners = item["flow"][[0, 0, -1, -1], [0, -1, 0, -1]]
    assert float(corners.abs().max()) <= 1.5
