"""Reading pairs files and sharding them across processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tpsmm.animation.pairs import read_pairs, shard
from tpsmm.errors import TPSMMError


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
