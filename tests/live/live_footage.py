"""Camera pictures for the live tests: the bundled driving video as a webcam sees it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tpsmm.media import VideoReader

ASSETS = Path(__file__).resolve().parents[2] / "src" / "tpsmm" / "assets"
SAMPLE_IMAGE, SAMPLE_VIDEO = ASSETS / "source.png", ASSETS / "driving.mp4"


def camera_frames(frames: int, size: tuple[int, int] = (320, 240), start: int = 0) -> list:
    """``frames`` frames of the bundled driving video from ``start``, each scaled to
    the picture's height and centred on a grey picture of ``size`` (width, height), as
    a webcam sees a face: (H, W, 3) uint8."""
    width, height = size
    pictures = []
    with VideoReader(SAMPLE_VIDEO) as reader:
        for index, frame in enumerate(reader):
            if index < start:
                continue
            if len(pictures) == frames:
                break
            face = Image.fromarray(frame)
            face = face.resize((round(face.width * height / face.height), height))
            picture = Image.new("RGB", size, (96, 96, 96))
            picture.paste(face, ((width - face.width) // 2, 0))
            pictures.append(np.asarray(picture))
    return pictures
