"""Reading videos and folders of frames: metadata, order, formats, streaming, errors."""

from __future__ import annotations

import shutil
import weakref
from collections.abc import Iterator
from fractions import Fraction
from itertools import islice
from pathlib import Path

import av
import numpy as np
import pytest
from media_helpers import (
    DRIVING_MP4,
    SOURCE_PNG,
    grey_frame,
    grey_levels,
    make_audio_only,
    make_video,
)
from PIL import Image

from tpsmm.errors import MediaError
from tpsmm.media import VideoReader, list_frame_files, read_video


def test_bundled_driving_video_metadata_and_batches() -> None:
    with VideoReader(DRIVING_MP4) as reader:
        assert reader.frame_rate == Fraction(25)
        assert reader.fps == 25.0
        assert reader.num_frames == 169
        assert reader.size == (410, 412)
        assert reader.has_audio
        assert not reader.is_folder
        batches = list(reader.read_batches(8, max_frames=20))
    assert [batch.shape for batch in batches] == [(8, 412, 410, 3)] * 2 + [(4, 412, 410, 3)]
    assert all(batch.dtype == np.uint8 for batch in batches)


def test_frames_come_in_order(tmp_path: Path) -> None:
    path = make_video(tmp_path / "grey.mp4", 8)
    frames = read_video(path)
    assert frames.shape == (8, 48, 64, 3)
    assert frames.dtype == np.uint8
    assert grey_levels(frames) == list(range(8))


def test_read_video_max_frames(tmp_path: Path) -> None:
    path = make_video(tmp_path / "grey.mp4", 8)
    assert grey_levels(read_video(path, max_frames=3)) == [0, 1, 2]


def test_iterating_twice_and_check(tmp_path: Path) -> None:
    path = make_video(tmp_path / "grey.mp4", 5)
    with VideoReader(path) as reader:
        first = reader.check()
        assert grey_levels([first]) == [0]
        assert grey_levels(list(reader)) == list(range(5))  # the checked frame comes once
        assert grey_levels(list(reader)) == list(range(5))  # a second pass starts over


def test_reader_streams_without_keeping_frames(tmp_path: Path) -> None:
    path = make_video(tmp_path / "long.mp4", 400, size=(96, 96))
    with VideoReader(path) as reader:
        frames = iter(reader)
        assert isinstance(frames, Iterator)
        references = [weakref.ref(frame) for frame in frames]
    assert len(references) == 400
    # Frames already handed out are freed: the reader holds none of them (it may keep the
    # first for check() and size).
    assert sum(reference() is not None for reference in references) <= 2


def test_ntsc_rate_is_exact(tmp_path: Path) -> None:
    path = make_video(tmp_path / "ntsc.mp4", 6, fps=Fraction(30000, 1001))
    with VideoReader(path) as reader:
        assert reader.frame_rate == Fraction(30000, 1001)


@pytest.mark.parametrize(("name", "codec"), [("clip.webm", "libvpx-vp9"), ("clip.avi", "mpeg4")])
def test_webm_and_avi(tmp_path: Path, name: str, codec: str) -> None:
    path = make_video(tmp_path / name, 6, codec=codec)
    with VideoReader(path) as reader:
        assert reader.frame_rate == 25
        assert reader.size == (64, 48)
        assert grey_levels(list(reader)) == list(range(6))


def test_animated_gif(tmp_path: Path) -> None:
    path = tmp_path / "anim.gif"
    frames = [Image.fromarray(grey_frame(i)) for i in range(5)]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=40, loop=0)
    with VideoReader(path) as reader:
        assert reader.size == (64, 48)
        assert reader.frame_rate == 25
        assert grey_levels(list(reader)) == list(range(5))


def test_display_rotation_is_applied(tmp_path: Path) -> None:
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    frame[:10, :10] = 255  # marker at the top-left
    path = make_video(tmp_path / "phone.mp4", frames=[frame] * 3, rotation=90)
    with VideoReader(path) as reader:
        assert reader.size == (48, 64)
        upright = reader.check()
    assert upright.shape == (64, 48, 3)
    assert upright[-10:, :10].mean() > 200  # turned 90 degrees counter-clockwise
    with VideoReader(path, autorotate=False) as reader:
        assert reader.size == (64, 48)


def test_folder_of_frames_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    folder.mkdir()
    for index in (10, 2, 1, 33, 9):
        Image.fromarray(grey_frame(index % 11)).save(folder / f"frame{index}.png")
    (folder / ".hidden.png").write_bytes(b"not read")
    (folder / "notes.txt").write_text("ignored")
    (folder / "sub").mkdir()

    assert [p.name for p in list_frame_files(folder)] == [
        "frame1.png",
        "frame2.png",
        "frame9.png",
        "frame10.png",
        "frame33.png",
    ]
    with VideoReader(folder) as reader:
        assert reader.is_folder
        assert reader.num_frames == 5
        assert reader.frame_rate == 25
        assert reader.size == (64, 48)
        assert not reader.has_audio
        assert grey_levels(list(reader)) == [1, 2, 9, 10, 0]
    with VideoReader(folder, fps=12.5) as reader:
        assert reader.frame_rate == Fraction(25, 2)


def test_folder_with_frames_of_different_sizes(tmp_path: Path) -> None:
    Image.fromarray(grey_frame(0)).save(tmp_path / "0.png")
    Image.fromarray(grey_frame(1, size=(32, 32))).save(tmp_path / "1.png")
    with pytest.raises(MediaError, match="32x32 but the first frame") as info:
        read_video(tmp_path)
    assert str(tmp_path / "1.png") in str(info.value)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="no frame images") as info:
        VideoReader(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_missing_path(tmp_path: Path) -> None:
    path = tmp_path / "missing.mp4"
    with pytest.raises(MediaError, match="no such file") as info:
        VideoReader(path)
    assert str(path) in str(info.value)


def test_image_given_as_video() -> None:
    with pytest.raises(MediaError, match="is an image, not a video") as info:
        VideoReader(SOURCE_PNG)
    assert str(SOURCE_PNG) in str(info.value)


def test_image_given_as_video_by_content(tmp_path: Path) -> None:
    disguised = tmp_path / "driving.mp4"
    shutil.copy(SOURCE_PNG, disguised)
    with pytest.raises(MediaError, match="is an image, not a video") as info:
        VideoReader(disguised)
    assert str(disguised) in str(info.value)


def test_still_gif_given_as_video(tmp_path: Path) -> None:
    path = tmp_path / "still.gif"
    Image.fromarray(grey_frame(0)).save(path)
    with pytest.raises(MediaError, match="is an image, not a video"):
        VideoReader(path)


@pytest.mark.parametrize("name", ["sound.m4a", "sound.wav"])
def test_audio_only_file(tmp_path: Path, name: str) -> None:
    path = make_audio_only(tmp_path / name)
    with pytest.raises(MediaError, match="has no video stream") as info:
        VideoReader(path)
    assert str(path) in str(info.value)


def test_no_decodable_frames_found_lazily_or_by_check(tmp_path: Path) -> None:
    path = tmp_path / "empty.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25, time_base=Fraction(1, 25))
        stream.width, stream.height = 64, 48
        container.start_encoding()

    reader = VideoReader(path)  # opening succeeds; iteration finds nothing
    with pytest.raises(MediaError, match="no decodable video frames") as info:
        list(reader)
    reader.close()
    assert str(path) in str(info.value)
    with pytest.raises(MediaError, match="no decodable video frames"):
        VideoReader(path, check=True)


@pytest.mark.parametrize("content", [b"", b"\x00garbage\xff" * 100])
def test_unreadable_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(MediaError, match="cannot be read as a video") as info:
        VideoReader(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "truncated.mp4"
    make_video(path, 10)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.raises(MediaError) as info:
        read_video(path)
    assert str(path) in str(info.value)


class _FailingContainer:
    """Wraps an input container; decoding fails after ``good`` frames."""

    def __init__(self, container: av.container.InputContainer, good: int) -> None:
        self._container = container
        self._good = good

    def __getattr__(self, name: str) -> object:
        return getattr(self._container, name)

    def decode(self, *args: object, **kwargs: object) -> Iterator[av.VideoFrame]:
        yield from islice(self._container.decode(*args, **kwargs), self._good)
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")


def test_decoding_errors_become_media_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_video(tmp_path / "grey.mp4", 4)
    real_open = av.open
    monkeypatch.setattr(av, "open", lambda *a, **k: _FailingContainer(real_open(*a, **k), 2))
    with VideoReader(path) as reader:
        frames = iter(reader)
        assert grey_levels([next(frames), next(frames)]) == [0, 1]
        with pytest.raises(MediaError, match="corrupt video data after 2 frames") as info:
            next(frames)
    message = str(info.value)
    assert str(path) in message and "Invalid data" in message
