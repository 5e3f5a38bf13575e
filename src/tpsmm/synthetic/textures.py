"""Textures of the synthetic videos: procedural patterns and photos.

A texture is a ``(R, R, 3)`` float64 array in [0, 1]. Two photo sets exist, kept apart on
purpose so that a model can be measured on images it never saw:

* ``train``: the sample face and the first 80 % of the frames of the sample video
  bundled with tpsmm (the last 20 % stay held out), and the photos matplotlib ships in
  its ``sample_data`` (a portrait of Grace Hopper, a still life) when matplotlib is
  installed;
* ``heldout``: the photos scikit-image ships in ``skimage/data`` (astronaut, cat,
  coffee, rocket, ...), never used for training.

Photos are found as files inside the installed packages (nothing is imported or
downloaded). Procedural textures (value-noise fBm, stripes, checks, dots, blobs) are drawn
from the video's random generator in both sets.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image

from tpsmm.errors import TPSMMError

__all__ = [
    "IMAGE_SETS",
    "SAMPLE_TRAIN_FRACTION",
    "PhotoPool",
    "photo_pool",
    "procedural_texture",
    "random_texture",
]

#: The photo sets :func:`photo_pool` knows.
IMAGE_SETS: tuple[str, ...] = ("train", "heldout")
#: Fraction of the bundled sample video's frames that training may see (from the start).
SAMPLE_TRAIN_FRACTION = 0.8

_MATPLOTLIB_PHOTOS = ("grace_hopper.jpg", "Minduka_Present_Blue_Pack.png")
_SKIMAGE_PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "ihc.png",
    "retina.jpg",
    "brick.png",
    "grass.png",
    "gravel.png",
    "camera.png",
    "moon.png",
    "coins.png",
)
#: Photos are decoded at most at this size (longer side) to bound memory.
_MAX_PHOTO_SIDE = 512


@dataclass(frozen=True)
class PhotoPool:
    """Decoded photos of one image set.

    Attributes:
        name: the set (``train`` or ``heldout``).
        photos: (H, W, 3) uint8 arrays.
        sources: where each photo came from (file names), same order.
    """

    name: str
    photos: tuple[np.ndarray, ...]
    sources: tuple[str, ...]


def _package_dir(package: str) -> Path | None:
    """The folder of an installed top-level package, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _read_photo(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        image = image.convert("RGB")
        image.thumbnail((_MAX_PHOTO_SIDE, _MAX_PHOTO_SIDE), Image.Resampling.LANCZOS)
        return np.asarray(image, dtype=np.uint8).copy()


def _sample_video_frames(step: int = 4) -> list[np.ndarray]:
    """Every ``step``-th frame of the first :data:`SAMPLE_TRAIN_FRACTION` of the bundled
    sample video (uint8 RGB)."""
    from tpsmm.media import read_video

    asset = resources.files("tpsmm") / "assets" / "driving.mp4"
    with resources.as_file(asset) as path:
        frames = read_video(path)
    keep = int(len(frames) * SAMPLE_TRAIN_FRACTION)
    return [np.ascontiguousarray(frame) for frame in frames[:keep:step]]


@lru_cache(maxsize=2)
def photo_pool(name: str) -> PhotoPool:
    """The photos of image set ``name`` (see the module docstring); cached per process.

    Raises:
        TPSMMError: an unknown set, or ``heldout`` without scikit-image installed.
    """
    if name not in IMAGE_SETS:
        raise TPSMMError(f"unknown image set {name!r}; choose one of {', '.join(IMAGE_SETS)}")
    photos: list[np.ndarray] = []
    sources: list[str] = []
    if name == "train":
        asset = resources.files("tpsmm") / "assets" / "source.png"
        with resources.as_file(asset) as path:
            photos.append(_read_photo(path))
        sources.append("tpsmm/assets/source.png")
        frames = _sample_video_frames()
        photos += frames
        sources += [f"tpsmm/assets/driving.mp4 frame {4 * i}" for i in range(len(frames))]
        folder = _package_dir("matplotlib")
        if folder is not None:
            for file in _MATPLOTLIB_PHOTOS:
                path = folder / "mpl-data" / "sample_data" / file
                if path.is_file():
                    photos.append(_read_photo(path))
                    sources.append(f"matplotlib/mpl-data/sample_data/{file}")
    else:
        folder = _package_dir("skimage")
        if folder is None:
            raise TPSMMError(
                "the heldout image set is scikit-image's photos: pip install 'tpsmm[synth]'"
            )
        for file in _SKIMAGE_PHOTOS:
            path = folder / "data" / file
            if path.is_file():
                photos.append(_read_photo(path))
                sources.append(f"skimage/data/{file}")
        if not photos:
            raise TPSMMError(f"no photos found in {folder / 'data'}")
    return PhotoPool(name, tuple(photos), tuple(sources))


# Procedural textures -------------------------------------------------------------------


def _value_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Smooth noise (size, size) in [0, 1]: a random (cells+1)^2 lattice upsampled
    bicubically."""
    lattice = rng.random((cells + 1, cells + 1)).astype(np.float32)
    image = Image.fromarray(lattice, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    return np.clip(np.asarray(image, dtype=np.float64), 0.0, 1.0)


def _fbm(rng: np.random.Generator, size: int) -> np.ndarray:
    """Fractal value noise: octaves of :func:`_value_noise`, normalised to [0, 1]."""
    base = int(rng.integers(2, 6))
    total = np.zeros((size, size))
    amplitude = 1.0
    for octave in range(int(rng.integers(3, 6))):
        cells = min(base * 2**octave, size // 3)
        total += amplitude * _value_noise(rng, size, cells)
        amplitude *= float(rng.uniform(0.4, 0.65))
    total -= total.min()
    return total / max(total.max(), 1e-9)


def _palette(rng: np.random.Generator, values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] through a random 3- or 4-colour gradient -> (..., 3)."""
    stops = int(rng.integers(3, 5))
    colors = rng.random((stops, 3))
    positions = np.linspace(0.0, 1.0, stops)
    return np.stack([np.interp(values, positions, colors[:, c]) for c in range(3)], axis=-1)


def _coordinates(size: int) -> tuple[np.ndarray, np.ndarray]:
    axis = np.linspace(-1.0, 1.0, size)
    return np.meshgrid(axis, axis, indexing="xy")


def procedural_texture(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random procedural texture (size, size, 3) float64 in [0, 1].

    One of: coloured fBm noise, stripes, checks, dots or soft blobs, each with random
    scale, orientation and colours, modulated by low-frequency noise so that no two
    regions look the same (the model has something to track everywhere).
    """
    x, y = _coordinates(size)
    kind = rng.choice(["noise", "stripes", "checks", "dots", "blobs"])
    angle = rng.uniform(0, np.pi)
    u = x * np.cos(angle) + y * np.sin(angle)
    v = -x * np.sin(angle) + y * np.cos(angle)
    if kind == "noise":
        values = _fbm(rng, size)
    elif kind == "stripes":
        frequency = rng.uniform(3, 10)
        warp = 0.3 * (_fbm(rng, size) - 0.5)
        values = 0.5 + 0.5 * np.sin(np.pi * frequency * (u + warp))
    elif kind == "checks":
        frequency = rng.uniform(2, 7)
        values = 0.5 + 0.5 * np.tanh(
            3 * np.sin(np.pi * frequency * u) * np.sin(np.pi * frequency * v)
        )
    elif kind == "dots":
        frequency = rng.uniform(3, 8)
        distance = np.hypot(np.sin(np.pi * frequency * u), np.sin(np.pi * frequency * v))
        values = np.clip(1.5 - 2.0 * distance, 0.0, 1.0)
    else:
        values = np.zeros((size, size))
        for _ in range(int(rng.integers(6, 16))):
            cx, cy = rng.uniform(-1.2, 1.2, 2)
            radius = rng.uniform(0.08, 0.4)
            values += rng.uniform(0.3, 1.0) * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / radius**2)
        values = values / max(values.max(), 1e-9)
    texture = _palette(rng, values)
    shade = 0.6 + 0.4 * _fbm(rng, size)[..., None]
    return np.clip(texture * shade + 0.15 * (_palette(rng, _fbm(rng, size)) - 0.5), 0.0, 1.0)


def _photo_crop(rng: np.random.Generator, photo: np.ndarray, size: int) -> np.ndarray:
    """A random square crop of ``photo`` (at least half its shorter side), maybe
    mirrored, resized to (size, size), with a random colour change -> float64 [0, 1]."""
    height, width = photo.shape[:2]
    side = int(rng.uniform(0.5, 1.0) * min(height, width))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    crop = Image.fromarray(photo[top : top + side, left : left + side])
    crop = crop.resize((size, size), Image.Resampling.LANCZOS)
    image = np.asarray(crop, dtype=np.float64) / 255.0
    if rng.random() < 0.5:
        image = image[:, ::-1]
    gain = rng.uniform(0.8, 1.2) * rng.uniform(0.93, 1.07, 3)
    offset = rng.uniform(-0.05, 0.05, 3)
    return np.clip(image * gain + offset, 0.0, 1.0)


def random_texture(
    rng: np.random.Generator, size: int, photos: Sequence[np.ndarray], photo_probability: float
) -> np.ndarray:
    """A photo crop (with probability ``photo_probability``, when ``photos`` is not
    empty) or a procedural texture, (size, size, 3) float64 in [0, 1]."""
    if photos and rng.random() < photo_probability:
        photo = photos[int(rng.integers(0, len(photos)))]
        return _photo_crop(rng, photo, size)
    return procedural_texture(rng, size)
