"""Variable-frame-rate test videos made with PyAV, and what a file's timing is.

Phones and screen recorders write variable frame rates; FFmpeg reports an average rate
of 1000 for such videos remuxed into Matroska. These helpers write such files from
chosen frame times, with a tone as audio, and read back the times and durations.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# Frame times in milliseconds: 30 fps runs, a 0.1 s hold and a 0.2 s freeze.
VFR_TIMES_MS: tuple[int, ...] = (
    *(33 * i for i in range(10)),  # 0 .. 297
    400, 433, 466, 500,
    700, 733, 766, 800, 833, 866,
    1000, 1016, 1033, 1050, 1066,
)  # fmt: skip
VFR_END_MS = 1082  # the last frame lasts as long as the interval before it (16 ms)


def level_frame(index: int, size: tuple[int, int] = (64, 64)) -> np.ndarray:
    """An (H, W, 3) uint8 frame of grey level 20 + 10 * index (mod 220), a square moving."""
    width, height = size
    frame = np.full((height, width, 3), 20 + (10 * index) % 220, dtype=np.uint8)
    x = (index * 3) % (width - 16)
    frame[8:24, x : x + 16] = 250
    return frame


def write_vfr_video(
    path: Path,
    times_ms: tuple[int, ...] = VFR_TIMES_MS,
    *,
    end_ms: int = VFR_END_MS,
    audio: bool = True,
    size: tuple[int, int] = (64, 64),
) -> Path:
    """A video whose frame ``i`` is shown at ``times_ms[i]`` (H.264, millisecond time
    base), with a 440 Hz AAC tone lasting until ``end_ms`` when ``audio``.

    ``.mp4``/``.mov`` are written directly; ``.mkv`` is an MP4 remuxed into Matroska,
    as FFmpeg does it (its stream then reports an average rate of 1000).
    """
    if path.suffix == ".mkv":
        staging = path.with_name(f"{path.stem}-staging.mp4")
        write_vfr_video(staging, times_ms, end_ms=end_ms, audio=audio, size=size)
        _remux(staging, path)
        staging.unlink()
        return path
    millisecond = Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.codec_context.time_base = millisecond
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast"}
        audio_stream = None
        if audio:
            audio_stream = container.add_stream("aac", rate=16000)
            audio_stream.layout = "mono"
        for index, time in enumerate(times_ms):
            frame = av.VideoFrame.from_ndarray(level_frame(index, size), format="rgb24")
            frame.pts, frame.time_base = time, millisecond
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            write_tone(container, audio_stream, end_ms / 1000)
    return path


def write_tone(container: av.container.OutputContainer, stream, seconds: float | Fraction) -> None:
    """A 440 Hz tone of ``seconds`` (to the nearest sample at 16 kHz) on ``stream``."""
    total = round(seconds * 16000)
    samples = (np.sin(2 * np.pi * 440 * np.arange(total) / 16000) * 8000).astype(np.int16)
    for start in range(0, total, 1024):
        chunk = np.ascontiguousarray(samples[None, start : start + 1024])
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, start, Fraction(1, 16000)
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _remux(source: Path, target: Path) -> None:
    with av.open(str(source)) as inp, av.open(str(target), "w") as out:
        streams = {s.index: out.add_stream_from_template(s) for s in inp.streams}
        for packet in inp.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            out.mux(packet)


def frame_times(path: Path) -> list[float]:
    """Presentation times in seconds of the decoded video frames of a file, from 0."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times = [float(frame.pts * frame.time_base) for frame in container.decode(stream)]
    return [time - times[0] for time in times]


def timing(path: Path) -> dict[str, object]:
    """A file's timing, in seconds from its first video frame's timestamp:

    ``video``: when the video ends (the track's stated duration where the container
    keeps one, as MP4 does, else the end of the last frame's packet); ``audio_start``,
    ``audio_end``: the first audio packet's start and the last one's end; ``audio``:
    each audio packet's start; ``container``: the container's duration.
    """
    spans: dict[str, list[tuple[Fraction, Fraction]]] = {"video": [], "audio": []}
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        stated = None
        if video.duration:
            stated = (video.start_time or 0) * video.time_base + video.duration * video.time_base
        for packet in container.demux():
            if packet.pts is not None and packet.size and packet.stream.type in spans:
                start = packet.pts * packet.time_base
                end = (packet.pts + (packet.duration or 0)) * packet.time_base
                spans[packet.stream.type].append((start, end))
        seconds = (container.duration or 0) / 1e6
    first = min(start for start, _ in spans["video"])
    video_end = stated if stated is not None else max(end for _, end in spans["video"])
    result: dict[str, object] = {"video": float(video_end - first), "container": seconds}
    if spans["audio"]:
        result["audio"] = [float(start - first) for start, _ in spans["audio"]]
        result["audio_start"] = float(min(start for start, _ in spans["audio"]) - first)
        result["audio_end"] = float(max(end for _, end in spans["audio"]) - first)
    return result
