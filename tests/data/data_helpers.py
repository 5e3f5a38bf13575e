"""Writers of tiny test videos in every dataset format (PNG folders, strips, GIF, MP4)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from PIL import Image

# 16 colours for GIF frames, so that palette images store them exactly.
PALETTE = np.array(
    [[(i * 37) % 256, (i * 91 + 40) % 256, (i * 53 + 90) % 256] for i in range(16)],
    dtype=np.uint8,
)


def noise_frames(num: int, height: int = 12, width: int = 16, seed: int = 0) -> np.ndarray:
    """``(num, H, W, 3)`` uint8 random frames (for lossless formats)."""
    return np.random.default_rng(seed).integers(0, 256, (num, height, width, 3), dtype=np.uint8)


def smooth_frames(num: int, height: int = 32, width: int = 32) -> np.ndarray:
    """``(num, H, W, 3)`` uint8 gradients with a moving bright square (codec friendly)."""
    ys, xs = np.mgrid[0:height, 0:width]
    frames = np.empty((num, height, width, 3), dtype=np.uint8)
    for t in range(num):
        frames[t, ..., 0] = (xs * 255 // max(width - 1, 1)).astype(np.uint8)
        frames[t, ..., 1] = (ys * 255 // max(height - 1, 1)).astype(np.uint8)
        frames[t, ..., 2] = (40 + 20 * t) % 256
        top = (3 * t) % (height - 8)
        frames[t, top : top + 8, 4:12] = 250
    return frames


def palette_indices(num: int, height: int = 12, width: int = 16, seed: int = 0) -> np.ndarray:
    """``(num, H, W)`` palette indices, every frame different."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, len(PALETTE), (num, height, width), dtype=np.uint8)


def write_png_folder(folder: Path, frames: np.ndarray, names: list[str] | None = None) -> Path:
    """A folder of PNG frames named ``0.png, 1.png, ...`` (natural order) or ``names``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        name = names[i] if names else f"{i}.png"
        Image.fromarray(frame).save(folder / name)
    return folder


def write_strip(path: Path, frames: np.ndarray) -> Path:
    """One PNG image with the frames side by side."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(list(frames), axis=1)).save(path)
    return path


def write_gif(path: Path, indices: np.ndarray) -> np.ndarray:
    """An animated GIF of palette frames; returns the frames as ``(T, H, W, 3)`` uint8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    images = []
    for frame in indices:
        image = Image.fromarray(frame, mode="P")
        image.putpalette(PALETTE.reshape(-1).tolist())
        images.append(image)
    images[0].save(
        path, save_all=True, append_images=images[1:], duration=40, loop=0, optimize=False
    )
    return PALETTE[indices]


def write_video(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """An H.264 video (mp4/mov by suffix), nearly lossless."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv444p"
        stream.options = {"crf": "0", "preset": "ultrafast"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path
