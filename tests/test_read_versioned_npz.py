"""tpsmm's versioned side files (landmarks, ground-truth motion): one reader, one line
for every way such a file can be damaged."""

from __future__ import annotations

import numpy as np
import pytest

from tpsmm.errors import TPSMMError
from tpsmm.files import read_versioned_npz
from tpsmm.synthetic import read_ground_truth
from tpsmm.synthetic.dataset import ground_truth_path


def _write(path, version=1, **arrays):
    np.savez(path, format_version=np.int64(version), **arrays)
    return path


def test_reads_the_named_arrays(tmp_path):
    path = _write(tmp_path / "a.npz", points=np.arange(6.0).reshape(3, 2), other=np.zeros(2))
    arrays = read_versioned_npz(path, "landmark", 1, ["points"])
    assert list(arrays) == ["points"]
    np.testing.assert_array_equal(arrays["points"], np.arange(6.0).reshape(3, 2))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("version", "landmark format 2, this tpsmm reads 1"),
        ("missing", "not a tpsmm landmark file"),
        ("truncated", "not a tpsmm landmark file"),
        ("empty", "not a tpsmm landmark file"),
        ("other", "not a tpsmm landmark file"),
    ],
)
def test_damaged_files_are_one_line_naming_them(tmp_path, damage, message):
    path = _write(tmp_path / "a.npz", version=2 if damage == "version" else 1, x=np.ones(4))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:40])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "other":
        path.write_bytes(b"\x00\x00\x00 ftypisom" + bytes(64))
    names = ["y"] if damage == "missing" else ["x"]
    with pytest.raises(TPSMMError, match=message) as raised:
        read_versioned_npz(path, "landmark", 1, names)
    assert str(path) in str(raised.value)


def test_a_truncated_ground_truth_file_is_named(tmp_path):
    """(Its reader let zipfile's and numpy's errors through for a truncated or empty
    file before it shared the landmarks' reader.)"""
    video = tmp_path / "clip.mp4"
    path = ground_truth_path(video)
    path.write_bytes(b"PK\x03\x04" + bytes(20))
    with pytest.raises(TPSMMError, match="not a tpsmm ground-truth file"):
        read_ground_truth(video)
    path.write_bytes(b"")
    with pytest.raises(TPSMMError, match="not a tpsmm ground-truth file"):
        read_ground_truth(video)
