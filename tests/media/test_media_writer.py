"""Writing video, GIF and PNG frames: round trips, exact rates, audio, atomicity, errors."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from media_helpers import (
    DRIVING_MP4,
    grey_frame,
    grey_levels,
    make_audio_only,
    make_video,
    stream_info,
)

from tpsmm.errors import MediaError
from tpsmm.media import (
    FrameFitter,
    VideoReader,
    VideoWriter,
    load_image,
    output_kind,
    read_video,
    to_frame_rate,
)


def write_grey(path: Path | str, count: int, fps: float | Fraction = 25, **kwargs: object) -> Path:
    with VideoWriter(path, fps, **kwargs) as writer:  # type: ignore[arg-type]
        for index in range(count):
            writer.write(grey_frame(index))
    return Path(path)


def visible_entries(folder: Path) -> list[str]:
    return sorted(entry.name for entry in folder.iterdir())


def test_output_kinds(tmp_path: Path) -> None:
    assert output_kind("out.mp4") == "video"
    assert output_kind("out.MOV") == "video"
    assert output_kind("out.mkv") == "video"
    assert output_kind("out.gif") == "gif"
    assert output_kind("frames") == "frames"
    assert output_kind("frames.v2/") == "frames"
    assert output_kind(tmp_path) == "frames"
    with pytest.raises(MediaError, match=r"unsupported output type '\.avi'") as info:
        output_kind("out.avi")
    assert "out.avi" in str(info.value)


def test_driving_video_round_trip_with_audio(tmp_path: Path) -> None:
    output = tmp_path / "result.mp4"
    with VideoReader(DRIVING_MP4) as reader:
        fitter = FrameFitter(reader.size, 64)
        with VideoWriter(output, reader.frame_rate, audio_from=DRIVING_MP4) as writer:
            assert writer.has_audio
            for frame in reader:
                writer.write(fitter(frame))

    info = stream_info(output)
    assert info["video"]["codec"] == "h264"
    assert info["video"]["frames"] == 169
    assert info["video"]["rate"] == Fraction(25)
    assert info["audio"]["codec"] == "aac"  # copied, not re-encoded
    source_audio = stream_info(DRIVING_MP4)["audio"]["duration"]
    assert abs(info["audio"]["duration"] - source_audio) < 0.05  # type: ignore[operator]
    with VideoReader(output) as reader:
        assert reader.size == (64, 64)
        assert reader.frame_rate == 25
        assert reader.num_frames == 169


def test_audio_is_trimmed_to_a_shorter_video(tmp_path: Path) -> None:
    output = tmp_path / "short.mp4"
    with (
        VideoReader(DRIVING_MP4) as reader,
        VideoWriter(output, reader.frame_rate, audio_from=DRIVING_MP4) as writer,
    ):
        for frame in reader.read_batches(10, max_frames=25):
            writer.write_batch(frame[:, :64, :64])
    info = stream_info(output)
    assert info["video"]["frames"] == 25
    assert abs(info["audio"]["duration"] - 1.0) < 0.05  # type: ignore[operator]


def test_ntsc_rate_is_kept_exactly(tmp_path: Path) -> None:
    source = make_video(tmp_path / "ntsc.mp4", 12, fps=Fraction(30000, 1001))
    with VideoReader(source) as reader:
        output = write_grey(tmp_path / "out.mp4", 12, reader.frame_rate)
    info = stream_info(output)
    assert info["video"]["rate"] == Fraction(30000, 1001)
    assert info["video"]["frames"] == 12
    assert grey_levels(read_video(output)) == [index % 11 for index in range(12)]


def test_float_fps_is_matched_to_ntsc(tmp_path: Path) -> None:
    output = write_grey(tmp_path / "out.mp4", 6, 29.97)
    assert stream_info(output)["video"]["rate"] == Fraction(30000, 1001)


def test_no_audio_without_a_source_or_when_the_source_has_none(tmp_path: Path) -> None:
    silent = make_video(tmp_path / "silent.mp4", 5)
    plain = write_grey(tmp_path / "plain.mp4", 5)
    with VideoWriter(tmp_path / "from-silent.mp4", 25, audio_from=silent) as writer:
        assert not writer.has_audio
        writer.write(grey_frame(0))
    with VideoWriter(tmp_path / "from-folder.mp4", 25, audio_from=tmp_path) as writer:
        assert not writer.has_audio
        writer.write(grey_frame(0))
    assert "audio" not in stream_info(plain)
    assert "audio" not in stream_info(tmp_path / "from-silent.mp4")


def test_audio_that_mp4_does_not_take_is_transcoded_to_aac(tmp_path: Path) -> None:
    source = make_video(tmp_path / "pcm.mkv", 25, codec="mpeg4", audio="pcm_s16le")
    output = write_grey(tmp_path / "out.mp4", 25, audio_from=source)
    info = stream_info(output)
    assert info["audio"]["codec"] == "aac"
    assert abs(info["audio"]["duration"] - 1.0) < 0.1  # type: ignore[operator]


def test_audio_from_an_audio_only_file_into_mkv(tmp_path: Path) -> None:
    sound = make_audio_only(tmp_path / "sound.m4a", seconds=2.0)
    output = write_grey(tmp_path / "out.mkv", 25, audio_from=sound)
    info = stream_info(output)
    assert info["audio"]["codec"] == "aac"
    assert info["video"]["codec"] == "h264"
    assert abs(info["container"]["duration"] - 1.0) < 0.15  # type: ignore[operator]


def test_odd_dimensions_and_float_frames(tmp_path: Path) -> None:
    output = tmp_path / "odd.mp4"
    frame = np.full((47, 63, 3), 0.5, dtype=np.float32)
    with VideoWriter(output, 25) as writer:
        writer.write(frame)
        writer.write(frame)
    frames = read_video(output)
    assert frames.shape == (2, 48, 64, 3)
    assert abs(frames.mean() - 128) < 3


def test_gif_output(tmp_path: Path) -> None:
    output = write_grey(tmp_path / "anim.gif", 6, 25)
    with VideoReader(output) as reader:
        assert reader.frame_rate == 25
        frames = np.stack(list(reader))
    assert frames.shape == (6, 48, 64, 3)
    assert grey_levels(frames) == list(range(6))


def test_png_folder_output_is_lossless(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 10, 12, 3), dtype=np.uint8)
    for name in ("frames", "frames-slash/"):
        with VideoWriter(str(tmp_path / name), 25) as writer:
            writer.write_batch(frames)
        folder = tmp_path / name.rstrip("/")
        assert visible_entries(folder) == ["000000.png", "000001.png", "000002.png"]
        np.testing.assert_array_equal(load_image(folder / "000001.png"), frames[1])
        np.testing.assert_array_equal(read_video(folder), frames)


def test_png_folder_replaces_a_previous_output_but_not_other_files(tmp_path: Path) -> None:
    folder = tmp_path / "frames"
    write_grey(folder, 4)
    write_grey(folder, 2)
    assert visible_entries(folder) == ["000000.png", "000001.png"]
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(MediaError, match="holds other files") as info:
        VideoWriter(folder, 25)
    assert str(folder) in str(info.value)
    assert visible_entries(tmp_path) == ["frames"]


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "out"])
def test_nothing_at_the_final_path_until_close(tmp_path: Path, name: str) -> None:
    output = tmp_path / name
    with VideoWriter(output, 25) as writer:
        for index in range(3):
            writer.write(grey_frame(index))
        assert not output.exists()
        temporary = writer.temporary_path
        assert temporary.exists()
        assert temporary.parent == tmp_path
        assert temporary.name.startswith(".out.partial-")
    assert output.exists()
    assert visible_entries(tmp_path) == [name]


@pytest.mark.parametrize("name", ["out.mp4", "out.gif", "out"])
def test_exception_inside_with_leaves_nothing(tmp_path: Path, name: str) -> None:
    with (
        pytest.raises(KeyError),
        VideoWriter(tmp_path / name, 25, audio_from=DRIVING_MP4) as writer,
    ):
        writer.write(grey_frame(0))
        raise KeyError("model failed")
    assert visible_entries(tmp_path) == []


def test_abort_keeps_an_older_output(tmp_path: Path) -> None:
    output = write_grey(tmp_path / "out.mp4", 3)
    before = output.read_bytes()
    writer = VideoWriter(output, 25)
    writer.write(grey_frame(5))
    writer.abort()
    writer.abort()
    assert output.read_bytes() == before
    assert visible_entries(tmp_path) == ["out.mp4"]


def test_overwrite_on_success(tmp_path: Path) -> None:
    output = write_grey(tmp_path / "out.mp4", 3)
    write_grey(output, 5)
    assert stream_info(output)["video"]["frames"] == 5


def test_writer_misuse(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "out.mp4", 25, size=(64, 48))
    with pytest.raises(ValueError, match="32x32 but the video is 64x48"):
        writer.write(np.zeros((32, 32, 3), dtype=np.uint8))
    writer.abort()
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(grey_frame(0))
    with pytest.raises(ValueError, match="no frames were written"):
        VideoWriter(tmp_path / "empty.mp4", 25).close()
    assert visible_entries(tmp_path) == []


def test_writer_errors(tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="unsupported output type"):
        VideoWriter(tmp_path / "out.avi", 25)
    missing_folder = tmp_path / "missing" / "out.mp4"
    with pytest.raises(MediaError, match="does not exist") as info:
        VideoWriter(missing_folder, 25)
    assert str(missing_folder) in str(info.value)
    missing_audio = tmp_path / "nothing.mp4"
    with pytest.raises(MediaError, match="no such file") as info:
        VideoWriter(tmp_path / "out.mp4", 25, audio_from=missing_audio)
    assert str(missing_audio) in str(info.value)
    (tmp_path / "file").write_text("x")
    with pytest.raises(MediaError, match="not a folder"):
        VideoWriter(tmp_path / "file", 25)
    with pytest.raises(ValueError, match="frame rate"):
        VideoWriter(tmp_path / "out.mp4", 0)
    assert visible_entries(tmp_path) == ["file"]


def test_to_frame_rate() -> None:
    assert to_frame_rate(25) == Fraction(25)
    assert to_frame_rate(25.0) == Fraction(25)
    assert to_frame_rate(29.97) == Fraction(30000, 1001)
    assert to_frame_rate(23.976) == Fraction(24000, 1001)
    assert to_frame_rate(12.5) == Fraction(25, 2)
    assert to_frame_rate(Fraction(30000, 1001)) == Fraction(30000, 1001)
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            to_frame_rate(bad)
