"""FramesDataset, DatasetRepeater, build_dataset and collate_items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from data_helpers import (
    noise_frames,
    palette_indices,
    smooth_frames,
    write_gif,
    write_png_folder,
    write_strip,
    write_video,
)
from torch.utils.data import DataLoader

from tpsmm.data import (
    DatasetRepeater,
    FramesDataset,
    build_dataset,
    collate_items,
    group_by_identity,
    identity_of,
    split_videos,
)
from tpsmm.errors import ConfigError, DatasetError

SHAPE = (12, 16)


def level_frames(num: int, height: int = 12, width: int = 16) -> np.ndarray:
    """Frame i is flat grey level 10 * i + 5, so an item's frame index can be read back."""
    levels = (10 * np.arange(num) + 5).astype(np.uint8)
    return np.broadcast_to(levels[:, None, None, None], (num, height, width, 3)).copy()


def frame_index(image: torch.Tensor) -> int:
    return round((float(image.mean()) * 255 - 5) / 10)


def mixed_root(tmp_path: Path) -> Path:
    """train/ with two identities in every format, test/ with two videos."""
    root = tmp_path / "ds"
    train = root / "train"
    write_png_folder(train / "id1#folder", noise_frames(4, *SHAPE))
    write_video(train / "id1#clip.mp4", smooth_frames(5, *SHAPE))
    write_gif(train / "id1#anim.gif", palette_indices(3, *SHAPE))
    write_strip(train / "id1#strip.png", noise_frames(3, *SHAPE, seed=1))
    write_png_folder(train / "id2#x", noise_frames(2, *SHAPE, seed=2))
    write_gif(train / "id2#y.gif", palette_indices(4, *SHAPE, seed=3))
    write_png_folder(root / "test" / "t1", level_frames(6))
    write_video(root / "test" / "t2.mp4", smooth_frames(4, *SHAPE))
    return root


def flat_root(tmp_path: Path, count: int = 10) -> Path:
    root = tmp_path / "flat"
    for i in range(count):
        write_png_folder(root / f"v{i}", level_frames(3))
    return root


def test_train_items_in_every_format(tmp_path: Path) -> None:
    dataset = FramesDataset(mixed_root(tmp_path), frame_shape=SHAPE)
    assert len(dataset) == 6
    dataset.set_epoch(0)
    for index in range(len(dataset)):
        item = dataset[index]
        assert set(item) == {"source", "driving", "name"}
        for key in ("source", "driving"):
            image = item[key]
            assert isinstance(image, torch.Tensor)
            assert image.dtype == torch.float32 and tuple(image.shape) == (3, *SHAPE)
            assert float(image.min()) >= 0.0 and float(image.max()) <= 1.0
        assert item["name"] == dataset.videos[index].name


def test_pair_indices_are_sorted_and_from_one_video(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write_png_folder(root / "train" / "a", level_frames(20))
    write_png_folder(root / "test" / "b", level_frames(2))
    dataset = FramesDataset(root)
    dataset.set_epoch(3)
    pairs = []
    for draw in range(60):
        item = dataset.get_item(0, draw=draw)
        pairs.append((frame_index(item["source"]), frame_index(item["driving"])))
    assert all(0 <= s <= d < 20 for s, d in pairs)
    assert len(set(pairs)) > 20


def test_one_frame_video_gives_the_same_frame_twice(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write_png_folder(root / "train" / "single", level_frames(1))
    write_png_folder(root / "test" / "b", level_frames(2))
    item = FramesDataset(root)[0]
    assert torch.equal(item["source"], item["driving"])


def test_test_items_are_whole_videos(tmp_path: Path) -> None:
    dataset = FramesDataset(mixed_root(tmp_path), frame_shape=SHAPE, is_train=False)
    assert [v.name for v in dataset.videos] == ["t1", "t2.mp4"]
    item = dataset[0]
    assert set(item) == {"video", "name"} and item["name"] == "t1"
    expected = torch.from_numpy(level_frames(6).astype(np.float32) / 255).permute(3, 0, 1, 2)
    assert item["video"].dtype == torch.float32
    assert torch.equal(item["video"], expected)
    assert tuple(dataset[1]["video"].shape) == (3, 4, *SHAPE)


def test_test_items_are_not_augmented(tmp_path: Path) -> None:
    params = {"flip_param": {"horizontal_flip": True, "time_flip": True}}
    dataset = FramesDataset(mixed_root(tmp_path), is_train=False, augmentation_params=params)
    expected = torch.from_numpy(level_frames(6).astype(np.float32) / 255).permute(3, 0, 1, 2)
    for _ in range(5):
        assert torch.equal(dataset[0]["video"], expected)


def test_id_sampling_covers_every_format(tmp_path: Path) -> None:
    dataset = FramesDataset(mixed_root(tmp_path), frame_shape=SHAPE, id_sampling=True)
    assert len(dataset) == 2
    assert [name for name, _ in dataset.identities] == ["id1", "id2"]
    seen: dict[int, set[str]] = {0: set(), 1: set()}
    for epoch in range(40):
        dataset.set_epoch(epoch)
        for index in range(2):
            seen[index].add(dataset[index]["name"])
    assert seen[0] == {"id1#folder", "id1#clip.mp4", "id1#anim.gif", "id1#strip.png"}
    assert seen[1] == {"id2#x", "id2#y.gif"}


def test_identity_grouping() -> None:
    videos = [Path("b#1.mp4"), Path("a#2"), Path("a#1.gif"), Path("solo.mp4")]
    assert identity_of(Path("x/id10001#abc#2.mp4")) == "id10001"
    assert group_by_identity(videos) == [
        ("a", [Path("a#2"), Path("a#1.gif")]),
        ("b", [Path("b#1.mp4")]),
        ("solo.mp4", [Path("solo.mp4")]),
    ]


def test_random_split_is_deterministic_and_disjoint(tmp_path: Path) -> None:
    root = flat_root(tmp_path, 10)
    train = FramesDataset(root, is_train=True)
    test = FramesDataset(root, is_train=False)
    assert len(train) == 8 and len(test) == 2
    assert not set(train.videos) & set(test.videos)
    assert set(train.videos) | set(test.videos) == {root / f"v{i}" for i in range(10)}
    again = FramesDataset(root, is_train=False)
    assert again.videos == test.videos
    other = [FramesDataset(root, is_train=False, random_seed=s).videos for s in range(1, 6)]
    assert any(videos != test.videos for videos in other)


def test_split_rule_matches_scikit_learn() -> None:
    videos = [Path(f"v{i}") for i in range(15)]
    train, test = split_videos(videos, random_seed=3)
    permutation = np.random.RandomState(3).permutation(15)
    assert len(test) == 3
    assert test == [videos[i] for i in permutation[:3]]
    assert train == [videos[i] for i in permutation[3:]]
    assert [len(split_videos(videos[:n])[1]) for n in (1, 4, 5, 6, 10, 11)] == [1, 1, 1, 2, 2, 3]


def test_same_epoch_same_items_and_epochs_differ(tmp_path: Path) -> None:
    root = mixed_root(tmp_path)
    params = {"flip_param": {"horizontal_flip": True}, "jitter_param": {"brightness": 0.2}}
    first = FramesDataset(root, frame_shape=SHAPE, augmentation_params=params)
    second = FramesDataset(root, frame_shape=SHAPE, augmentation_params=params)
    first.set_epoch(5)
    second.set_epoch(5)
    for index in range(len(first)):
        a, b = first[index], second[index]
        assert torch.equal(a["source"], b["source"]) and torch.equal(a["driving"], b["driving"])
    items_5 = [first[i]["driving"] for i in range(len(first))]
    first.set_epoch(6)
    items_6 = [first[i]["driving"] for i in range(len(first))]
    assert any(not torch.equal(x, y) for x, y in zip(items_5, items_6, strict=True))
    assert first.epoch == 6


def test_unset_epoch_follows_torch_seed(tmp_path: Path) -> None:
    dataset = FramesDataset(flat_root(tmp_path, 5))
    assert dataset.epoch is None
    torch.manual_seed(11)
    a = [frame_index(dataset.get_item(0, draw=d)["driving"]) for d in range(30)]
    torch.manual_seed(11)
    b = [frame_index(dataset.get_item(0, draw=d)["driving"]) for d in range(30)]
    c = [frame_index(dataset.get_item(0, draw=d)["driving"]) for d in range(30)]
    assert a == b and a != c


def _driving_indices(loader: DataLoader) -> list[int]:
    return [frame_index(img) for batch in loader for img in batch["driving"]]


def test_workers_do_not_change_items(tmp_path: Path) -> None:
    root = tmp_path / "r"
    for i in range(4):
        write_png_folder(root / "train" / f"v{i}", level_frames(25))
    write_png_folder(root / "test" / "t", level_frames(2))
    dataset = DatasetRepeater(FramesDataset(root), num_repeats=4)
    dataset.set_epoch(2)
    serial = _driving_indices(DataLoader(dataset, batch_size=4, num_workers=0))
    parallel = _driving_indices(
        DataLoader(dataset, batch_size=4, num_workers=2, persistent_workers=True)
    )
    assert serial == parallel
    assert len(set(serial)) > 5  # repeats of a video draw different frames
    # set_epoch reaches persistent workers through shared memory.
    loader = DataLoader(dataset, batch_size=4, num_workers=2, persistent_workers=True)
    before = _driving_indices(loader)
    dataset.set_epoch(3)
    after = _driving_indices(loader)
    assert before == serial and after != before
    assert after == _driving_indices(DataLoader(dataset, batch_size=4, num_workers=0))


def test_frames_of_different_sizes_stop_a_batch_clearly(tmp_path: Path) -> None:
    root = tmp_path / "r"
    write_png_folder(root / "train" / "a", level_frames(2, 8, 8))
    write_png_folder(root / "train" / "b", level_frames(2, 10, 8))
    write_png_folder(root / "test" / "t", level_frames(2))
    dataset = FramesDataset(root)
    dataset.set_epoch(0)
    loader = DataLoader(dataset, batch_size=2, collate_fn=collate_items)
    with pytest.raises(DatasetError, match=r"a is 8x8, b is 10x8; set dataset_params.frame_shape"):
        next(iter(loader))
    resized = FramesDataset(root, frame_shape=(8, 8))
    resized.set_epoch(0)
    batch = next(iter(DataLoader(resized, batch_size=2, collate_fn=collate_items)))
    assert tuple(batch["source"].shape) == (2, 3, 8, 8)


def test_random_seed_must_fit(tmp_path: Path) -> None:
    root = flat_root(tmp_path, 5)
    for bad in (-1, 2**32, 1.5):
        with pytest.raises(ConfigError, match="random_seed"):
            FramesDataset(root, random_seed=bad)  # type: ignore[arg-type]


def test_dataset_repeater(tmp_path: Path) -> None:
    base = FramesDataset(flat_root(tmp_path, 5))
    repeated = DatasetRepeater(base, num_repeats=3)
    assert len(base) == 4 and len(repeated) == 12
    base.set_epoch(0)
    for i in (0, 5, 11):
        assert repeated[i]["name"] == base.videos[i % 4].name
    with pytest.raises(IndexError):
        repeated[12]
    plain = DatasetRepeater(list(range(3)), num_repeats=2)  # type: ignore[arg-type]
    assert [plain[i] for i in range(len(plain))] == [0, 1, 2, 0, 1, 2]
    with pytest.raises(ConfigError, match="num_repeats"):
        DatasetRepeater(base, 0)


def test_collate_items(tmp_path: Path) -> None:
    items = [
        {"source": torch.zeros(3, 4, 4), "driving": torch.zeros(3, 4, 4), "name": "a"},
        {"source": torch.zeros(3, 4, 4), "driving": torch.zeros(3, 4, 4), "name": "b"},
    ]
    batch = collate_items(items)
    assert tuple(batch["source"].shape) == (2, 3, 4, 4) and batch["name"] == ["a", "b"]
    items[1]["driving"] = torch.zeros(3, 5, 4)
    with pytest.raises(DatasetError, match=r"different sizes in one batch: a is 4x4, b is 5x4"):
        collate_items(items)


def test_build_dataset_from_authors_params(tmp_path: Path) -> None:
    root = mixed_root(tmp_path)
    params = {
        "root_dir": str(root),
        "frame_shape": [12, 16, 3],
        "id_sampling": True,
        "pairs_list": None,
        "augmentation_params": {
            "flip_param": {"horizontal_flip": True, "time_flip": True},
            "jitter_param": {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1},
        },
    }
    train = build_dataset(params, is_train=True)
    assert len(train) == 2 and train.frame_shape == SHAPE
    train.set_epoch(0)
    assert tuple(train[1]["source"].shape) == (3, *SHAPE)
    test = build_dataset(params, is_train=False)
    assert len(test) == 2


@pytest.mark.parametrize(
    ("params", "pattern"),
    [
        ({"root_dir": "x", "num_repeats": 3}, "unknown key 'num_repeats'"),
        ({"frame_shape": None}, "root_dir must be a path"),
        ({"root_dir": "x", "id_sampling": "yes"}, "id_sampling must be true or false"),
        ({"root_dir": "x", "frame_shape": [256]}, "dataset_params.frame_shape"),
        ({"root_dir": "x", "augmentation_params": {"blur": {}}}, "unknown key 'blur'"),
    ],
)
def test_build_dataset_config_errors(tmp_path: Path, params: dict, pattern: str) -> None:
    if params.get("root_dir") == "x":
        params = {**params, "root_dir": str(flat_root(tmp_path, 5))}
    with pytest.raises(ConfigError, match=pattern):
        build_dataset(params, is_train=True)


def test_root_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=r"nowhere: dataset folder not found"):
        FramesDataset(tmp_path / "nowhere")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatasetError, match=r"file: dataset root is not a folder"):
        FramesDataset(tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no videos here")
    with pytest.raises(DatasetError, match=r"empty: no videos found"):
        FramesDataset(empty)
    only_train = tmp_path / "only_train"
    write_png_folder(only_train / "train" / "v", level_frames(2))
    assert len(FramesDataset(only_train)) == 1
    with pytest.raises(DatasetError, match=r"only_train/test: folder not found"):
        FramesDataset(only_train, is_train=False)
    (tmp_path / "empty_train" / "train").mkdir(parents=True)
    (tmp_path / "empty_train" / "test").mkdir()
    with pytest.raises(DatasetError, match=r"empty_train/train: no videos found"):
        FramesDataset(tmp_path / "empty_train")
    with pytest.raises(DatasetError, match=r"too few for an 80/20"):
        FramesDataset(flat_root(tmp_path, 1))


def test_bad_videos_fail_when_sampled(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "train" / "empty").mkdir(parents=True)
    (root / "train" / "broken.mp4").write_bytes(b"not a video")
    write_strip(root / "train" / "strip.png", noise_frames(3, 8, 6))
    write_png_folder(root / "test" / "t", level_frames(2))
    dataset = FramesDataset(root, frame_shape=(8, 5))
    names = [v.name for v in dataset.videos]
    assert names == ["broken.mp4", "empty", "strip.png"]
    with pytest.raises(DatasetError, match=r"broken\.mp4"):
        dataset[0]
    with pytest.raises(DatasetError, match=r"train/empty: video has no frames"):
        dataset[1]
    with pytest.raises(DatasetError, match=r"strip\.png: .*not a row of 8x5 frames"):
        dataset[2]
    for index in range(3):
        try:
            dataset[index]
        except DatasetError as error:
            assert "\n" not in str(error)


def test_build_dataset_from_a_config_object(tmp_path: Path) -> None:
    from dataclasses import asdict, replace

    from tpsmm.config import preset

    params = replace(preset("vox-256").dataset_params, root_dir=str(mixed_root(tmp_path)))
    dataset = build_dataset(asdict(params), is_train=True)
    assert len(dataset) == 2 and dataset.id_sampling
    with pytest.raises(ConfigError, match="root_dir must be a path, got None"):
        build_dataset(asdict(replace(params, root_dir=None)), is_train=True)


def test_ground_truth_motion_on_videos_without_it_is_noted(tmp_path):
    """ground_truth_motion on clips that carry none (real videos) trains with the flow
    term at 0: a note says so (none, or how many of them carry it)."""
    import warnings

    from tpsmm.errors import TPSMMNotice

    root = mixed_root(tmp_path)
    with pytest.warns(TPSMMNotice, match=r"ground_truth_motion is on but none of the 6 training"):
        FramesDataset(root, frame_shape=SHAPE, ground_truth_motion=True)
    (root / "train" / "id1#clip.mp4.npz").write_bytes(b"")  # one carries it
    with pytest.warns(TPSMMNotice, match=r"but 1 of the 6 training videos"):
        FramesDataset(root, frame_shape=SHAPE, ground_truth_motion=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FramesDataset(root, frame_shape=SHAPE)  # off: no note
        FramesDataset(root, frame_shape=SHAPE, ground_truth_motion=True, is_train=False)
