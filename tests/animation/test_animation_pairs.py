"""Pairs files: reading, sharding across processes, running with the work shared between
rows, and which failures are a bad pair."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import tpsmm
from tpsmm.animation.pairs import Pair, animate_pairs, read_pairs, shard
from tpsmm.animation.pipeline import VideoAnimator, animate_video
from tpsmm.errors import TPSMMError
from tpsmm.media import load_image, save_image
from tpsmm.model import TPSMM


def write(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "lists"
    folder.mkdir(exist_ok=True)
    path = folder / "pairs.csv"
    path.write_text(text)
    return path


def test_positional_rows_resolve_paths(tmp_path):
    csv = write(tmp_path, "a.png,v.mp4\n/abs/b.png,sub/w.mp4,named.gif,standard\n")
    out = tmp_path / "out"
    first, second = read_pairs(csv, out)
    assert first.source == csv.parent / "a.png"
    assert first.driving == csv.parent / "v.mp4"
    assert first.output == out / "a_v.mp4"
    assert first.mode is None
    assert (first.index, first.line) == (0, 1)
    assert second.source == Path("/abs/b.png")
    assert second.driving == csv.parent / "sub" / "w.mp4"
    assert second.output == out / "named.gif"
    assert second.mode == "standard"
    assert second.describe() == "line 2 (b.png -> w.mp4)"


def test_header_in_any_order_comments_and_blank_rows(tmp_path):
    text = "# made by hand\nmode, driving ,source\n\navd,v.mp4,a.png\n  \n#a.png,x.mp4\nrelative,w.mp4,a.png\n"
    pairs = read_pairs(write(tmp_path, text), tmp_path)
    assert [(p.line, p.driving.name, p.mode) for p in pairs] == [
        (4, "v.mp4", "avd"),
        (7, "w.mp4", "relative"),
    ]
    assert [p.index for p in pairs] == [0, 1]


def test_default_names_do_not_collide(tmp_path):
    pairs = read_pairs(write(tmp_path, "a.png,v.mp4\na.png,v.mp4\n"), tmp_path)
    assert [p.output.name for p in pairs] == ["a_v.mp4", "a_v_2.mp4"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a.png\n", r"pairs.csv:1: expected source, driving, output, mode"),
        ("a.png,v.mp4,o.mp4,relative,extra\n", "got 5 cells"),
        (",v.mp4\n", "the source cell is empty"),
        ("a.png,v.mp4,o.mp4\nb.png,w.mp4,o.mp4\n", "output .* is already written by line 1"),
        ("source,video\na.png,v.mp4\n", "header must name source and driving"),
        ("# nothing\n\n", "no pairs"),
    ],
)
def test_bad_files(tmp_path, text, message):
    with pytest.raises(TPSMMError, match=message):
        read_pairs(write(tmp_path, text), tmp_path)


def test_trailing_empty_cells_are_fine(tmp_path):
    (pair,) = read_pairs(write(tmp_path, "a.png,v.mp4,,,\n"), tmp_path)
    assert pair.output.name == "a_v.mp4"


def test_missing_file(tmp_path):
    with pytest.raises(TPSMMError, match="no such pairs file"):
        read_pairs(tmp_path / "nope.csv", tmp_path)


def test_shards_are_disjoint_and_cover_every_pair(tmp_path):
    text = "".join(f"s{i}.png,d{i}.mp4\n" for i in range(7))
    pairs = read_pairs(write(tmp_path, text), tmp_path)
    shards = [shard(pairs, rank, 3) for rank in range(3)]
    assert [[p.index for p in part] for part in shards] == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(p.index for part in shards for p in part) == list(range(7))


# ----------------------------------------------------------------------------- running


def _folder_frames(folder: Path) -> np.ndarray:
    return np.stack([load_image(p) for p in sorted(folder.glob("*.png"))])


@pytest.fixture
def two_inputs(tmp_path):
    """Two sources (the sample and its mirror image) and two driving videos (the sample
    and a folder of 4 frames of the sample face, shifted)."""
    assets = Path(tpsmm.__file__).resolve().parent / "assets"
    source, video = assets / "source.png", assets / "driving.mp4"
    image = load_image(source)
    mirror = tmp_path / "mirror.png"
    save_image(mirror, image[:, ::-1])
    folder = tmp_path / "shifted"
    folder.mkdir()
    for i in range(4):
        save_image(folder / f"{i}.png", np.roll(image, 4 * i, axis=1))
    return source, mirror, video, folder


def test_shared_sources_and_driving_videos_are_worked_once(
    tiny_model, two_inputs, tmp_path, monkeypatch
):
    """Rows sharing a source reuse its preparation, rows sharing a driving video its
    frames' keypoints; every output equals the pair animated on its own."""
    source, mirror, video, folder = two_inputs
    out = tmp_path / "out"
    rows = [(source, video), (mirror, video), (source, folder)]
    pairs = [Pair(i, i + 1, Path(s), Path(d), out / f"{i}", None) for i, (s, d) in enumerate(rows)]
    prepared, detected = [], []
    prepare, keypoints = TPSMM.prepare_source, TPSMM.keypoints
    monkeypatch.setattr(
        TPSMM, "prepare_source", lambda self, image: prepared.append(1) or prepare(self, image)
    )
    monkeypatch.setattr(
        TPSMM,
        "keypoints",
        lambda self, images: detected.append(len(images)) or keypoints(self, images),
    )
    results = animate_pairs(tiny_model, pairs, batch_size=1, max_frames=2)
    assert all(result.ok for result in results), [r.error for r in results]
    assert len(prepared) == 2  # one per source
    assert sum(detected) == 2 + 2  # the frames of each driving video, once
    monkeypatch.undo()
    for pair in pairs:
        alone = tmp_path / "alone" / pair.output.name
        alone.parent.mkdir(exist_ok=True)
        animate_video(tiny_model, pair.source, pair.driving, alone, batch_size=1, max_frames=2)
        np.testing.assert_array_equal(_folder_frames(pair.output), _folder_frames(alone))


def test_a_bad_pair_is_reported_and_a_bug_is_not(tiny_model, two_inputs, tmp_path, monkeypatch):
    source, _, video, _ = two_inputs
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    pairs = [
        Pair(0, 1, Path(source), Path(video), blocker / "sub" / "o.mp4", None),  # OSError
        Pair(1, 2, Path(source), tmp_path / "gone.mp4", tmp_path / "o2.mp4", None),
        Pair(2, 3, Path(source), Path(video), tmp_path / "o3", None),
    ]
    results = animate_pairs(tiny_model, pairs, max_frames=1)
    assert [result.ok for result in results] == [False, False, True]
    assert "file" in results[0].error and "\n" not in results[0].error
    assert "gone.mp4" in results[1].error

    def broken(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(VideoAnimator, "write", broken)
    with pytest.raises(ZeroDivisionError):
        animate_pairs(tiny_model, pairs[2:], max_frames=1)
