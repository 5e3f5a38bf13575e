"""Timestamps through the reader and the writer: variable frame rates (VFR mp4, VFR
Matroska whose stream states 1000 fps) keep their frame times, length and audio sync."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from media_helpers import make_video

from timing_helpers import VFR_END_MS, VFR_TIMES_MS, frame_times, timing, write_vfr_video
from tpsmm.media import VideoReader, VideoWriter
from tpsmm.media.video import rate_from_timestamps
from tpsmm.media.writer import FrameTiming

TIMES = [time / 1000 for time in VFR_TIMES_MS]
END = VFR_END_MS / 1000
MS = Fraction(1, 1000)


@pytest.fixture(scope="module", params=["mkv", "mp4"])
def vfr(request, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("vfr")
    return write_vfr_video(folder / f"vfr.{request.param}")


def test_reader_gives_each_frame_its_timestamp(vfr):
    with av.open(str(vfr)) as container:
        nominal = container.streams.video[0].average_rate
    with VideoReader(vfr) as reader:
        timed = list(reader.timed_frames())
        rate = reader.frame_rate
        assert reader.time_base in (MS, Fraction(1, 16000), Fraction(1, 15360))
    assert [float(time) for _, time in timed] == pytest.approx(TIMES, abs=1e-9)
    assert all(isinstance(time, Fraction) for _, time in timed)
    # The average over the frames, not the container's field (1000 for the mkv).
    assert float(rate) == pytest.approx((len(TIMES) - 1) / TIMES[-1], rel=1e-3)
    assert reader.variable_rate
    if vfr.suffix == ".mkv":
        assert nominal == 1000


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov", ".gif"])
def test_writer_keeps_frame_times_and_length(vfr, suffix, tmp_path):
    output = tmp_path / f"out{suffix}"
    with VideoReader(vfr) as reader, VideoWriter.following(output, reader) as writer:
        for frame, time in reader.timed_frames():
            writer.write(frame, time)
    assert writer.variable_rate
    assert float(writer.duration) == pytest.approx(END, abs=1e-9)
    precision = 0.0051 if suffix == ".gif" else 0.0005  # GIF counts 1/100 s
    assert frame_times(output) == pytest.approx(TIMES, abs=precision)
    measured = timing(output)
    assert measured["video"] == pytest.approx(END, abs=precision)
    if suffix == ".gif":
        assert "audio" not in measured
        return
    # Audio is cut at the video's end, at packet granularity (AAC: 64 ms here), and
    # every packet keeps its time relative to the first video frame: in sync.
    assert END <= measured["audio_end"] <= END + 0.064
    original = timing(vfr)["audio"]
    assert measured["audio"] == pytest.approx(original[: len(measured["audio"])], abs=0.0005)
    assert original[len(measured["audio"]) :] == [] or original[len(measured["audio"])] >= END


def test_constant_rate_video_is_unchanged(tmp_path):
    rate = Fraction(30000, 1001)
    source = make_video(tmp_path / "ntsc.mkv", 40, fps=rate)  # Matroska: millisecond times
    with VideoReader(source) as reader:
        assert reader.frame_rate == rate  # the stated rate fits the rounded times
        output = tmp_path / "out.mp4"
        with VideoWriter(output, reader.frame_rate, time_base=reader.time_base) as writer:
            for frame, time in reader.timed_frames():
                writer.write(frame, time)
    assert not writer.variable_rate
    assert writer.average_rate == rate
    with VideoReader(output) as written:
        assert written.frame_rate == rate
        assert not written.variable_rate
    assert timing(output)["video"] == pytest.approx(40 / float(rate), abs=0.001)


def test_frames_without_times_are_one_frame_apart(tmp_path):
    output = tmp_path / "out.mp4"
    with (
        VideoReader(make_video(tmp_path / "in.mp4", 5)) as reader,
        VideoWriter(output, 10) as writer,
    ):
        for frame in reader:
            writer.write(frame)
    assert frame_times(output) == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert writer.duration == Fraction(1, 2)


def test_folder_of_frames_has_the_given_rate(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    with VideoReader(make_video(tmp_path / "in.mp4", 4)) as reader:
        for index, frame in enumerate(reader):
            av.VideoFrame.from_ndarray(frame, format="rgb24").to_image().save(
                folder / f"{index}.png"
            )
    with VideoReader(folder, fps=Fraction(30000, 1001)) as reader:
        times = [time for _, time in reader.timed_frames()]
        assert reader.time_base == Fraction(1001, 30000)
        assert reader.start_time == 0
    assert times == [Fraction(1001 * index, 30000) for index in range(4)]
    with VideoReader(folder) as reader:
        assert [time for _, time in reader.timed_frames()][-1] == Fraction(3, 25)


def test_rate_from_timestamps():
    ntsc = Fraction(30000, 1001)
    rounded = [Fraction(round(i * 1000 / ntsc), 1000) for i in range(250)]
    # Millisecond times of 29.97 fps: the stated rate fits them, an average would not.
    assert rate_from_timestamps(rounded, MS, [ntsc]) == ntsc
    assert rate_from_timestamps(rounded, MS, [Fraction(1000)]) == ntsc  # snapped average
    vfr = [Fraction(time, 1000) for time in VFR_TIMES_MS]
    average = rate_from_timestamps(vfr, MS, [Fraction(1000), Fraction(30)])
    assert float(average) == pytest.approx((len(vfr) - 1) / float(vfr[-1]), rel=1e-3)
    assert rate_from_timestamps([Fraction(0)], MS, [None, Fraction(24)]) == 24
    assert rate_from_timestamps([], MS, [None]) == 25


def test_frame_timing_rounds_and_keeps_times_increasing():
    timing = FrameTiming(MS, Fraction(25))
    assert timing.add(Fraction(0)) == 0
    assert timing.add(Fraction(1, 3)) == Fraction(333, 1000)
    assert timing.add(Fraction(1, 3)) == Fraction(334, 1000)  # a repeated time moves on
    assert timing.add(Fraction(1, 10)) == Fraction(335, 1000)  # so does a backward one
    assert timing.add(None) == Fraction(375, 1000)  # 1/25 s after the previous frame
    assert timing.variable
    assert timing.end == Fraction(415, 1000)
    single = FrameTiming(MS, Fraction(25))
    single.add(Fraction(0))
    assert (single.end, single.variable) == (Fraction(1, 25), False)
