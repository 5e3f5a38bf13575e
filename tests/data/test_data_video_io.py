"""Frame sources: every format reads the right frames, selected indices, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from data_helpers import (
    noise_frames,
    palette_indices,
    smooth_frames,
    write_gif,
    write_png_folder,
    write_strip,
    write_video,
)

from tpsmm.data import video_io
from tpsmm.data.video_io import (
    FrameCountChanged,
    FrameFolder,
    FrameStrip,
    VideoFile,
    list_videos,
    open_video,
    parse_frame_shape,
)
from tpsmm.errors import ConfigError, DatasetError


def as_float(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) / 255.0


def test_png_folder_reads_exactly_in_natural_order(tmp_path: Path) -> None:
    frames = noise_frames(12)
    write_png_folder(tmp_path / "v", frames)
    (tmp_path / "v" / "notes.txt").write_text("not a frame")
    (tmp_path / "v" / ".hidden.png").write_bytes(b"")
    source = open_video(tmp_path / "v")
    assert isinstance(source, FrameFolder)
    assert source.num_frames == 12
    assert [p.name for p in source.files][:3] == ["0.png", "1.png", "2.png"]
    assert source.files[-1].name == "11.png"  # natural order: 2 before 10
    out = source.read([10, 2, 2])
    assert out.dtype == np.float32 and out.shape == (3, 12, 16, 3)
    np.testing.assert_array_equal(out, as_float(frames[[10, 2, 2]]))
    np.testing.assert_array_equal(source.read_all(), as_float(frames))


def test_strip_reads_exactly(tmp_path: Path) -> None:
    frames = noise_frames(5, 8, 6)
    write_strip(tmp_path / "s.png", frames)
    source = open_video(tmp_path / "s.png", (8, 6))
    assert isinstance(source, FrameStrip)
    assert source.num_frames == 5
    np.testing.assert_array_equal(source.read([4, 0]), as_float(frames[[4, 0]]))
    np.testing.assert_array_equal(source.read_all(), as_float(frames))


def test_gif_reads_exactly(tmp_path: Path) -> None:
    expected = write_gif(tmp_path / "a.gif", palette_indices(6))
    source = open_video(tmp_path / "a.gif")
    assert isinstance(source, VideoFile)
    assert source.num_frames == 6
    np.testing.assert_array_equal(source.read_all(), as_float(expected))
    np.testing.assert_array_equal(source.read([5, 1]), as_float(expected[[5, 1]]))


def test_one_frame_gif_is_a_one_frame_video(tmp_path: Path) -> None:
    expected = write_gif(tmp_path / "still.gif", palette_indices(1))
    source = open_video(tmp_path / "still.gif")
    assert source.num_frames == 1
    np.testing.assert_array_equal(source.read([0, 0]), as_float(expected[[0, 0]]))
    assert source.scan().num_frames == 1


@pytest.mark.parametrize("suffix", [".mp4", ".mov", ".m4v", ".mkv"])
def test_video_file_reads_approximately(tmp_path: Path, suffix: str) -> None:
    frames = smooth_frames(9)
    write_video(tmp_path / f"clip{suffix}", frames)
    source = open_video(tmp_path / f"clip{suffix}")
    assert source.num_frames == 9
    everything = source.read_all()
    assert everything.shape == (9, 32, 32, 3) and everything.dtype == np.float32
    assert np.abs(everything - as_float(frames)).max() < 4 / 255
    picked = source.read([7, 3])
    np.testing.assert_allclose(picked, everything[[7, 3]], atol=1e-6)


def test_frame_shape_resizes_folders_and_videos(tmp_path: Path) -> None:
    write_png_folder(tmp_path / "v", noise_frames(3, 20, 10))
    write_video(tmp_path / "c.mp4", smooth_frames(3))
    for path in (tmp_path / "v", tmp_path / "c.mp4"):
        out = open_video(path, (16, 24)).read([0, 2])
        assert out.shape == (2, 16, 24, 3)
        assert out.min() >= 0.0 and out.max() <= 1.0


def test_constant_frame_survives_resizing(tmp_path: Path) -> None:
    frame = np.full((1, 20, 10, 3), 77, dtype=np.uint8)
    write_png_folder(tmp_path / "v", frame)
    out = open_video(tmp_path / "v", (7, 13)).read([0])
    np.testing.assert_allclose(out, 77 / 255, atol=1e-5)


def test_folder_with_mixed_sizes_needs_frame_shape(tmp_path: Path) -> None:
    folder = write_png_folder(tmp_path / "v", noise_frames(1, 8, 8))
    write_png_folder(folder, noise_frames(1, 9, 8), names=["1.png"])
    with pytest.raises(DatasetError, match=r"frames differ in size"):
        open_video(folder).read([0, 1])
    assert open_video(folder, (8, 8)).read([0, 1]).shape == (2, 8, 8, 3)


def test_strip_errors(tmp_path: Path) -> None:
    write_strip(tmp_path / "s.png", noise_frames(3, 8, 6))
    with pytest.raises(DatasetError, match=r"s\.png.*frame_shape"):
        _ = open_video(tmp_path / "s.png").num_frames
    with pytest.raises(DatasetError, match=r"s\.png.*not a row of 8x5 frames"):
        _ = open_video(tmp_path / "s.png", (8, 5)).num_frames
    with pytest.raises(DatasetError, match=r"not a row of 9x6"):
        open_video(tmp_path / "s.png", (9, 6)).read([0])


def test_unreadable_and_unknown_files(tmp_path: Path) -> None:
    for name in ("bad.mp4", "bad.gif"):
        bad = tmp_path / name
        bad.write_bytes(b"this is not a video")
        with pytest.raises(DatasetError, match=name.replace(".", r"\.")) as caught:
            _ = open_video(bad).num_frames
        assert "\n" not in str(caught.value)
    text = tmp_path / "a.txt"
    text.write_text("x")
    with pytest.raises(DatasetError, match=r"a\.txt: not a video"):
        open_video(text)
    with pytest.raises(DatasetError, match=r"missing\.mp4: video not found"):
        open_video(tmp_path / "missing.mp4")
    broken = tmp_path / "v"
    broken.mkdir()
    (broken / "0.png").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match=r"0\.png"):
        open_video(broken).read([0])


def test_out_of_range_index(tmp_path: Path) -> None:
    write_png_folder(tmp_path / "v", noise_frames(2))
    with pytest.raises(DatasetError, match=r"frame 2 requested, video has 2 frames"):
        open_video(tmp_path / "v").read([2])


def test_overstated_frame_count_is_corrected(tmp_path: Path) -> None:
    write_video(tmp_path / "c.mp4", smooth_frames(4))
    source = open_video(tmp_path / "c.mp4")
    key = source._key()
    video_io._FRAME_COUNTS[key] = 10  # as if the container claimed 10 frames
    with pytest.raises(FrameCountChanged) as caught:
        source.read([0, 8])
    assert caught.value.num_frames == 4
    assert source.num_frames == 4


def test_list_videos_and_natural_order(tmp_path: Path) -> None:
    write_png_folder(tmp_path / "v10", noise_frames(1))
    write_png_folder(tmp_path / "v2", noise_frames(1))
    write_strip(tmp_path / "s.png", noise_frames(2))
    write_gif(tmp_path / "g.gif", palette_indices(2))
    (tmp_path / "list.csv").write_text("a,b")
    (tmp_path / ".DS_Store").write_text("")
    assert [p.name for p in list_videos(tmp_path)] == ["g.gif", "s.png", "v2", "v10"]


def test_parse_frame_shape() -> None:
    assert parse_frame_shape(None) is None
    assert parse_frame_shape([256, 256, 3]) == (256, 256)
    assert parse_frame_shape((64, 32)) == (64, 32)
    for bad in ([256], [256, 256, 4], "256", [0, 3], [2.5, 3]):
        with pytest.raises(ConfigError, match="frame_shape"):
            parse_frame_shape(bad)


def test_datasets_take_every_suffix_animate_reads(tmp_path: Path) -> None:
    """One list of suffixes: what drives an animation (or is written) is a training video,
    and every still image can be a strip."""
    from tpsmm.media import GIF_SUFFIX, IMAGE_SUFFIXES, VIDEO_SUFFIXES
    from tpsmm.media.writer import VIDEO_FORMATS

    assert set(VIDEO_FORMATS) <= VIDEO_SUFFIXES
    for suffix in sorted(VIDEO_SUFFIXES | {GIF_SUFFIX} | IMAGE_SUFFIXES):
        entry = tmp_path / f"clip{suffix}"
        entry.write_bytes(b"")
        assert video_io.is_video_entry(entry), suffix
        source = open_video(entry)
        expected = FrameStrip if suffix in IMAGE_SUFFIXES else VideoFile
        assert isinstance(source, expected), suffix
