"""Real footage for the face tests: the bundled photo and video, and portrait (phone)
versions of them made here, 1080x1920, with the face placed off-centre on a gradient."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

import tpsmm
from tpsmm.media import VideoReader, load_image

ASSETS = Path(tpsmm.__file__).resolve().parent / "assets"
SAMPLE_SOURCE = ASSETS / "source.png"
SAMPLE_DRIVING = ASSETS / "driving.mp4"
PORTRAIT = (1080, 1920)  # width, height
#: Where the scaled sample lies in the portrait frame: (x, y, scale).
PORTRAIT_VIDEO_PLACE = (130, 560, 2.0)
PORTRAIT_PHOTO_PLACE = (30, 300, 1.5)


def portrait_canvas() -> np.ndarray:
    """A 1080x1920 RGB gradient background, (1920, 1080, 3) uint8."""
    width, height = PORTRAIT
    ys = np.linspace(0, 1, height)[:, None]
    xs = np.linspace(0, 1, width)[None, :]
    red = 40 + 120 * ys + 0 * xs
    green = 70 + 60 * xs + 0 * ys
    blue = 150 - 80 * ys + 20 * xs
    return np.stack([red, green, blue], axis=-1).astype(np.uint8)


def place(frame: np.ndarray, where: tuple[int, int, float]) -> np.ndarray:
    """``frame`` scaled and pasted onto the portrait canvas."""
    x, y, scale = where
    size = (round(frame.shape[1] * scale), round(frame.shape[0] * scale))
    scaled = np.asarray(Image.fromarray(frame).resize(size, Image.Resampling.BICUBIC))
    canvas = portrait_canvas()
    canvas[y : y + size[1], x : x + size[0]] = scaled
    return canvas


def portrait_photo(path: Path) -> Path:
    """The bundled photo on a 1080x1920 canvas, saved as PNG at ``path``."""
    Image.fromarray(place(load_image(SAMPLE_SOURCE), PORTRAIT_PHOTO_PLACE)).save(path)
    return path


def portrait_frames(max_frames: int | None = None) -> Iterator[np.ndarray]:
    """The bundled video's frames on 1080x1920 canvases."""
    with VideoReader(SAMPLE_DRIVING) as reader:
        for index, frame in enumerate(reader):
            if max_frames is not None and index >= max_frames:
                return
            yield place(frame, PORTRAIT_VIDEO_PLACE)


def portrait_video(path: Path, max_frames: int | None = None, *, audio: bool = True) -> Path:
    """The bundled video as a 1080x1920 H.264 file at 25 fps, with its audio (remuxed)."""
    fps = Fraction(25)
    with av.open(str(path), "w") as output, av.open(str(SAMPLE_DRIVING)) as source:
        stream = output.add_stream("libx264", rate=fps, time_base=1 / fps)
        stream.width, stream.height = PORTRAIT
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "16"}
        audio_in = source.streams.audio[0] if audio else None
        audio_out = output.add_stream_from_template(audio_in) if audio_in is not None else None
        count = 0
        for count, frame in enumerate(portrait_frames(max_frames), start=1):
            video_frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
            video_frame.pts, video_frame.time_base = count - 1, 1 / fps
            output.mux(stream.encode(video_frame))
        output.mux(stream.encode(None))
        if audio_in is not None:
            seconds = count / 25
            for packet in source.demux(audio_in):
                if packet.pts is None or packet.size == 0:
                    continue
                if float(packet.pts * audio_in.time_base) > seconds:
                    break
                packet.stream = audio_out
                output.mux(packet)
    return path


def portrait_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """Landmarks of a bundled-video frame moved to where the portrait video has them."""
    x, y, scale = PORTRAIT_VIDEO_PLACE
    return np.asarray(landmarks) * scale + np.array([x, y])


def landmarks_of_frames(frames) -> list[np.ndarray | None]:
    """dlib's 68 landmarks of each frame found the slow and thorough way (HOG on the
    whole frame upsampled once), independently of the tracker: the reference the crops
    are checked against."""
    from tpsmm.faces import FaceAnalyzer

    analyzer = FaceAnalyzer(upsample=1)
    out = []
    for frame in frames:
        face = analyzer.analyze(frame)
        out.append(None if face is None else face.landmarks)
    return out
