"""Tiny datasets and the tiny model's training config for the training tests (seconds on a
2-core CPU)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from tiny_model import tiny_config, tiny_config_dict
from tpsmm.config import Config
from tpsmm.networks.backbones import VGG19Features

FRAME = 32


def random_vgg(seed: int = 123) -> VGG19Features:
    """A seeded random VGG-19 for the perceptual loss (the speed and the code paths do
    not depend on its values)."""
    torch.manual_seed(seed)
    return VGG19Features().eval().requires_grad_(False)


@contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread (much faster than two on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def moving_shape_frames(num: int, seed: int, size: int = FRAME) -> np.ndarray:
    """(num, size, size, 3) uint8: a coloured disc and square moving over a gradient."""
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    background = np.stack([xs, ys, 1 - xs], axis=-1) * rng.uniform(0.3, 0.7, 3)
    colours = rng.uniform(0.5, 1.0, (2, 3))
    start, velocity = rng.uniform(0.25, 0.75, (2, 2)), rng.uniform(-0.04, 0.04, (2, 2))
    frames = np.empty((num, size, size, 3), dtype=np.uint8)
    for t in range(num):
        image = background.copy()
        (cx, cy), (qx, qy) = np.clip(start + velocity * t, 0.15, 0.85)
        disc = (xs - cx) ** 2 + (ys - cy) ** 2 < 0.02
        square = (np.abs(xs - qx) < 0.1) & (np.abs(ys - qy) < 0.1)
        image[disc] = colours[0]
        image[square] = colours[1]
        frames[t] = np.round(image * 255).astype(np.uint8)
    return frames


def write_png_video(folder: Path, frames: np.ndarray) -> Path:
    """A folder of PNG frames 0.png, 1.png, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"{i}.png")
    return folder


def make_dataset(root: Path, train: int = 4, test: int = 2, frames: int = 6) -> Path:
    """``root/train/video<i>`` and ``root/test/video<i>`` PNG-folder videos."""
    for split, count, offset in (("train", train, 0), ("test", test, 100)):
        for i in range(count):
            write_png_video(root / split / f"video{i}", moving_shape_frames(frames, offset + i))
    return root


def tiny_training_config(root: Path | None = None, *, bg: bool = True, **changes: Any) -> Config:
    """The tiny model (:mod:`tiny_model`) at FRAME x FRAME with a background predictor
    (by default), its dataset at ``root``; ``changes`` as for :func:`tiny_model.tiny_config`."""
    return tiny_config(frame_size=FRAME, bg=bg, root=root, **changes)


def tiny_training_config_dict(root: Path | None = None, *, bg: bool = True) -> dict[str, Any]:
    """:func:`tiny_training_config` as plain data (a YAML file's contents)."""
    return tiny_config_dict(frame_size=FRAME, bg=bg, root=root)
