"""Training augmentations of the authors' ``augmentation_params``, applied per sample.

A sample is a clip of frames, ``(T, H, W, 3)`` float32 in [0, 1] (a NumPy array, a
tensor or a list of ``(H, W, 3)`` frames). Every random value is drawn once per clip
from the :class:`numpy.random.Generator` passed in, so all frames of one sample get the
same flip, angle, scale, crop window and colour factors, and a given generator state
always gives the same result (no global random state is touched).

The transforms, in the authors' order (each present only when its group is in the
configuration):

``flip_param: {horizontal_flip, time_flip}``
    Each enabled flip happens with probability 0.5, independently. (The authors'
    ``RandomFlip`` returns early after a time flip, so there a horizontal flip happens
    only when no time flip did: probability 0.25 instead of 0.5. We flip independently,
    which is what the option names say.)
``rotation_param: {degrees}``
    A counter-clockwise rotation about the image centre by an angle drawn uniformly
    from ``[-d, d]`` (or ``[lo, hi]`` if ``degrees`` is a pair), bilinear, zero fill,
    same size (``skimage.transform.rotate``'s defaults, which the authors use).
``resize_param: {ratio: [lo, hi], interpolation}``
    Both sides scaled by one factor ``s`` drawn from ``[lo, hi]`` to
    ``(int(H * s), int(W * s))``. ``interpolation`` is ``"nearest"`` (the authors'
    default, which their configs keep) or ``"bilinear"`` (anti-aliased).
``crop_param: {size: [h, w]}`` (or one number)
    A random ``h x w`` window; a side shorter than the window is first padded evenly by
    repeating its edge pixels (as the authors' ``pad_clip`` does). The offsets are drawn
    uniformly over every position (the authors' ``RandomCrop`` tests the height against
    the width and so pins an offset to 0 when the crop height equals the image height).
``jitter_param: {brightness, contrast, saturation, hue}``
    torchvision ``ColorJitter`` semantics: factors drawn uniformly from
    ``[max(0, 1 - b), 1 + b]`` (likewise contrast and saturation), a hue shift from
    ``[-h, h]`` with ``0 <= h <= 0.5``; a zero (or absent) value disables that
    adjustment; the enabled adjustments run in a random order, each clamped to [0, 1].
    Contrast blends towards the mean grey level of each frame, saturation towards each
    frame's grey image (ITU-R 601 luma weights), hue rotates the H channel of HSV.
    (The authors round-trip each frame through 8-bit PIL images; we stay in float.)

``motion_param`` (ours) is not a clip transform: the dataset applies it to pairs with
known motion only (see :mod:`tpsmm.data.motion_augmentation`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F

from tpsmm.data.motion_augmentation import GROUP as MOTION_GROUP
from tpsmm.data.motion_augmentation import KEYS as MOTION_KEYS
from tpsmm.data.motion_augmentation import MotionAugmentation
from tpsmm.errors import ConfigError

__all__ = [
    "Augmentation",
    "ColorJitter",
    "RandomCrop",
    "RandomFlip",
    "RandomResize",
    "RandomRotation",
    "build_augmentation",
    "build_motion_augmentation",
    "resize_clip",
]

# Luma weights of ITU-R BT.601, as PIL's "L" conversion and torchvision use.
_LUMA = (0.299, 0.587, 0.114)


class ClipTransform(Protocol):
    """One augmentation step on a clip tensor ``(T, 3, H, W)`` float32 in [0, 1]."""

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor: ...


# --------------------------------------------------------------------------------------
# Deterministic building blocks on clip tensors (T, 3, H, W).


def resize_clip(clip: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize every frame of ``clip`` ``(T, 3, H, W)`` to ``size = (h, w)``.

    ``mode`` is ``"bilinear"`` (anti-aliased when shrinking, like skimage's ``resize``)
    or ``"nearest"``. Returns float32 ``(T, 3, h, w)`` clamped to [0, 1].
    """
    if tuple(clip.shape[-2:]) == tuple(size):
        return clip
    if mode == "nearest":
        out = F.interpolate(clip, size=size, mode="nearest")
    else:
        out = F.interpolate(clip, size=size, mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(0.0, 1.0)


def rotate_clip(clip: torch.Tensor, angle_degrees: float) -> torch.Tensor:
    """Rotate every frame of ``clip`` ``(T, 3, H, W)`` counter-clockwise about its centre.

    Bilinear sampling, zeros outside the frame, output of the same size.
    """
    t, _, h, w = clip.shape
    theta = math.radians(angle_degrees)
    cos, sin = math.cos(theta), math.sin(theta)
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij"
    )
    dx, dy = xs - cx, ys - cy
    # Output pixel p reads the input at R(theta) (p - c) + c; with rows pointing down this
    # turns the picture counter-clockwise on screen, as skimage.transform.rotate does.
    src_x = cos * dx - sin * dy + cx
    src_y = sin * dx + cos * dy + cy
    grid = torch.stack(
        (2.0 * src_x / max(w - 1, 1) - 1.0, 2.0 * src_y / max(h - 1, 1) - 1.0), dim=-1
    ).to(clip.dtype)
    grid = grid.unsqueeze(0).expand(t, h, w, 2)
    return F.grid_sample(clip, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def pad_clip_edge(clip: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad ``clip`` ``(T, 3, H, W)`` evenly with its edge pixels to at least ``height x width``."""
    _, _, h, w = clip.shape
    pad_h, pad_w = max(height - h, 0), max(width - w, 0)
    if pad_h == 0 and pad_w == 0:
        return clip
    padding = (pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2)
    return F.pad(clip, padding, mode="replicate")


def _grey(clip: torch.Tensor) -> torch.Tensor:
    """Luma of ``clip`` ``(T, 3, H, W)`` as ``(T, 1, H, W)``."""
    r, g, b = clip[:, 0:1], clip[:, 1:2], clip[:, 2:3]
    return _LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b


def _blend(image: torch.Tensor, other: torch.Tensor, factor: float) -> torch.Tensor:
    return (factor * image + (1.0 - factor) * other).clamp_(0.0, 1.0)


def adjust_brightness(clip: torch.Tensor, factor: float) -> torch.Tensor:
    """Multiply by ``factor`` (0 gives black, 1 the input), clamped to [0, 1]."""
    return (clip * factor).clamp_(0.0, 1.0)


def adjust_contrast(clip: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend each frame with its mean grey level (0 gives flat grey, 1 the input)."""
    mean = _grey(clip).mean(dim=(1, 2, 3), keepdim=True)
    return _blend(clip, mean, factor)


def adjust_saturation(clip: torch.Tensor, factor: float) -> torch.Tensor:
    """Blend each frame with its grey image (0 gives grey, 1 the input)."""
    return _blend(clip, _grey(clip), factor)


def rgb_to_hsv(rgb: torch.Tensor) -> torch.Tensor:
    """RGB ``(..., 3, H, W)`` in [0, 1] to HSV with every channel in [0, 1]."""
    r, g, b = rgb.unbind(dim=-3)
    maxc = torch.maximum(torch.maximum(r, g), b)
    minc = torch.minimum(torch.minimum(r, g), b)
    delta = maxc - minc
    safe_delta = torch.where(delta > 0, delta, torch.ones_like(delta))
    safe_max = torch.where(maxc > 0, maxc, torch.ones_like(maxc))
    sat = torch.where(maxc > 0, delta / safe_max, torch.zeros_like(maxc))
    hue_r = torch.remainder((g - b) / safe_delta, 6.0)
    hue_g = (b - r) / safe_delta + 2.0
    hue_b = (r - g) / safe_delta + 4.0
    hue = torch.where(maxc == r, hue_r, torch.where(maxc == g, hue_g, hue_b))
    hue = torch.where(delta > 0, hue / 6.0, torch.zeros_like(hue))
    return torch.stack((hue, sat, maxc), dim=-3)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """HSV ``(..., 3, H, W)`` with channels in [0, 1] back to RGB in [0, 1].

    Channel ``c`` of (R, G, B) is ``v - v s clamp(min(k, 4 - k), 0, 1)`` with
    ``k = (n + 6 h) mod 6`` and ``n`` = 5, 3, 1: the piecewise-linear form of the
    six-sector formula.
    """
    hue, sat, val = hsv.unbind(dim=-3)
    h6 = torch.remainder(hue, 1.0) * 6.0
    chroma = val * sat
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = torch.remainder(h6 + n, 6.0)
        ramp = torch.minimum(k, 4.0 - k).clamp_(0.0, 1.0)
        channels.append(val - chroma * ramp)
    return torch.stack(channels, dim=-3)


def adjust_hue(clip: torch.Tensor, shift: float) -> torch.Tensor:
    """Rotate the hue of every pixel by ``shift`` turns (``shift`` in [-0.5, 0.5])."""
    hsv = rgb_to_hsv(clip)
    hsv[..., 0, :, :] = torch.remainder(hsv[..., 0, :, :] + shift, 1.0)
    return hsv_to_rgb(hsv).clamp_(0.0, 1.0)


# --------------------------------------------------------------------------------------
# Random transforms: each draws its parameters once per clip from the generator.


@dataclass(frozen=True)
class RandomFlip:
    """Horizontal and/or time flip, each with probability 0.5, independently."""

    horizontal_flip: bool = False
    time_flip: bool = False

    def draw(self, rng: np.random.Generator) -> tuple[bool, bool]:
        """``(time, horizontal)``: whether each flip happens for one clip."""
        do_time, do_horizontal = rng.random(2) < 0.5
        return bool(self.time_flip and do_time), bool(self.horizontal_flip and do_horizontal)

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        do_time, do_horizontal = self.draw(rng)
        if do_time:
            clip = clip.flip(0)
        if do_horizontal:
            clip = clip.flip(-1)
        return clip


@dataclass(frozen=True)
class RandomRotation:
    """Counter-clockwise rotation by an angle drawn uniformly from ``degrees = (lo, hi)``."""

    degrees: tuple[float, float]

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        angle = float(rng.uniform(self.degrees[0], self.degrees[1]))
        return rotate_clip(clip, angle)


@dataclass(frozen=True)
class RandomResize:
    """Scale both sides by one factor drawn uniformly from ``ratio = (lo, hi)``."""

    ratio: tuple[float, float]
    interpolation: str = "nearest"

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        scale = float(rng.uniform(self.ratio[0], self.ratio[1]))
        h, w = clip.shape[-2:]
        size = (max(int(h * scale), 1), max(int(w * scale), 1))
        return resize_clip(clip, size, self.interpolation)


@dataclass(frozen=True)
class RandomCrop:
    """A random ``size = (h, w)`` window, after edge padding of sides that are shorter."""

    size: tuple[int, int]

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        height, width = self.size
        clip = pad_clip_edge(clip, height, width)
        h, w = clip.shape[-2:]
        top = int(rng.integers(0, h - height + 1))
        left = int(rng.integers(0, w - width + 1))
        return clip[..., top : top + height, left : left + width]


@dataclass(frozen=True)
class ColorJitter:
    """torchvision-style colour jitter with one set of factors per clip."""

    brightness: float = 0.0
    contrast: float = 0.0
    saturation: float = 0.0
    hue: float = 0.0

    def draw(self, rng: np.random.Generator) -> list[tuple[str, float]]:
        """The enabled adjustments with their factors, in the (random) order of application."""
        steps: list[tuple[str, float]] = []
        for name in ("brightness", "contrast", "saturation"):
            amount = getattr(self, name)
            if amount > 0:
                steps.append((name, float(rng.uniform(max(0.0, 1.0 - amount), 1.0 + amount))))
        if self.hue > 0:
            steps.append(("hue", float(rng.uniform(-self.hue, self.hue))))
        order = rng.permutation(len(steps))
        return [steps[i] for i in order]

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        functions: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
            "brightness": adjust_brightness,
            "contrast": adjust_contrast,
            "saturation": adjust_saturation,
            "hue": adjust_hue,
        }
        for name, factor in self.draw(rng):
            clip = functions[name](clip, factor)
        return clip


class Augmentation:
    """A sequence of random clip transforms; call it as ``augment(frames, rng)``.

    ``frames``: ``(T, H, W, 3)`` float32 in [0, 1] (array, tensor or list of frames).
    Returns a new C-contiguous ``numpy.ndarray`` ``(T, H', W', 3)`` float32 in [0, 1];
    ``H', W'`` differ from the input only with resize, crop or padding.
    """

    def __init__(self, transforms: Sequence[ClipTransform] = ()) -> None:
        self.transforms: tuple[ClipTransform, ...] = tuple(transforms)

    def __repr__(self) -> str:
        return f"Augmentation({list(self.transforms)!r})"

    def photometric(self) -> Augmentation:
        """The same augmentation without its geometric steps (flips, rotation, resize,
        crop): only the colour changes, which leave the frames' motion as it is."""
        return Augmentation([t for t in self.transforms if isinstance(t, ColorJitter)])

    def flips(self) -> RandomFlip | None:
        """The flip step, if any."""
        return next((t for t in self.transforms if isinstance(t, RandomFlip)), None)

    def moving_steps(self) -> list[str]:
        """The names of the steps that move pixels other than flips (rotation, resize,
        crop): what landmarks and measured flows could not follow."""
        names = {RandomRotation: "rotation_param", RandomResize: "resize_param"}
        names[RandomCrop] = "crop_param"
        return [names[type(t)] for t in self.transforms if type(t) in names]

    def __call__(self, frames: Any, rng: np.random.Generator) -> np.ndarray:
        clip = _to_clip_tensor(frames)
        for transform in self.transforms:
            clip = transform(clip, rng)
        return np.ascontiguousarray(clip.permute(0, 2, 3, 1).numpy(), dtype=np.float32)


def _to_clip_tensor(frames: Any) -> torch.Tensor:
    """``(T, H, W, 3)`` frames of any array kind to a float32 tensor ``(T, 3, H, W)``."""
    if isinstance(frames, torch.Tensor):
        array = frames.detach().cpu().to(torch.float32)
    else:
        if isinstance(frames, (list, tuple)):
            frames = np.stack([np.asarray(f) for f in frames])
        array = torch.from_numpy(np.asarray(frames, dtype=np.float32).copy())
    if array.ndim != 4 or array.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (T, H, W, 3), got {tuple(array.shape)}")
    return array.permute(0, 3, 1, 2).contiguous()


# --------------------------------------------------------------------------------------
# Building from the YAML mapping.

_GROUP_KEYS: dict[str, tuple[str, ...]] = {
    "flip_param": ("horizontal_flip", "time_flip"),
    "rotation_param": ("degrees",),
    "resize_param": ("ratio", "interpolation"),
    "crop_param": ("size",),
    "jitter_param": ("brightness", "contrast", "saturation", "hue"),
    # Applied by the dataset to pairs with known motion only (tpsmm.data.motion_augmentation).
    MOTION_GROUP: MOTION_KEYS,
}


def build_augmentation(params: Mapping[str, Any] | None) -> Augmentation:
    """The augmentation described by a YAML ``augmentation_params`` mapping.

    ``None`` or an empty mapping gives the identity. A group set to ``null`` is skipped,
    as in the authors' code. Unknown groups or keys and invalid values raise
    :class:`tpsmm.errors.ConfigError` naming them.
    """
    if params is None:
        return Augmentation()
    if not isinstance(params, Mapping):
        raise ConfigError(f"augmentation_params must be a mapping, got {params!r}")
    for group in params:
        if group not in _GROUP_KEYS:
            known = ", ".join(_GROUP_KEYS)
            raise ConfigError(f"augmentation_params: unknown key {group!r} (known: {known})")
    groups = {name: _group(params, name) for name in _GROUP_KEYS}
    _build_motion(groups[MOTION_GROUP])  # validated here too; the dataset applies it
    transforms: list[ClipTransform] = []
    if groups["flip_param"] is not None:
        transforms.append(_build_flip(groups["flip_param"]))
    if groups["rotation_param"] is not None:
        transforms.append(_build_rotation(groups["rotation_param"]))
    if groups["resize_param"] is not None:
        transforms.append(_build_resize(groups["resize_param"]))
    if groups["crop_param"] is not None:
        transforms.append(_build_crop(groups["crop_param"]))
    if groups["jitter_param"] is not None:
        transforms.append(_build_jitter(groups["jitter_param"]))
    return Augmentation(transforms)


def build_motion_augmentation(params: Mapping[str, Any] | None) -> MotionAugmentation | None:
    """The ``motion_param`` group of a YAML ``augmentation_params`` mapping, or None when
    it is absent or null. Keys: ``view_degrees``, ``view_scale`` (log scale),
    ``view_shift``, ``motion_probability`` (in [0, 1]), ``motion_degrees``,
    ``motion_scale``, ``motion_shift``; all finite numbers >= 0, 0 by default."""
    if params is None:
        return None
    return _build_motion(_group(params, MOTION_GROUP))


def _build_motion(group: Mapping[str, Any] | None) -> MotionAugmentation | None:
    if group is None:
        return None
    where = f"augmentation_params.{MOTION_GROUP}"
    values: dict[str, float] = {}
    for key, value in group.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not 0 <= value < math.inf
        ):
            raise ConfigError(f"{where}.{key} must be a finite number >= 0, got {value!r}")
        values[key] = float(value)
    if values.get("motion_probability", 0.0) > 1:
        raise ConfigError(f"{where}.motion_probability must be at most 1")
    return MotionAugmentation(**values)


def _group(params: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    value = params.get(name)
    if value is None:
        return None
    where = f"augmentation_params.{name}"
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    for key in value:
        if key not in _GROUP_KEYS[name]:
            known = ", ".join(_GROUP_KEYS[name])
            raise ConfigError(f"{where}: unknown key {key!r} (known: {known})")
    return value


def _number(value: Any, where: str, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ConfigError(f"{where} must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where} must be >= {minimum}, got {value!r}")
    return float(value)


def _pair(value: Any, where: str) -> tuple[Any, Any]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or len(value) != 2:
        raise ConfigError(f"{where} must be a pair [a, b], got {value!r}")
    return value[0], value[1]


def _build_flip(group: Mapping[str, Any]) -> RandomFlip:
    flags = {}
    for key in ("horizontal_flip", "time_flip"):
        value = group.get(key, False)
        if not isinstance(value, bool):
            raise ConfigError(f"augmentation_params.flip_param.{key} must be true or false")
        flags[key] = value
    return RandomFlip(**flags)


def _build_rotation(group: Mapping[str, Any]) -> RandomRotation:
    where = "augmentation_params.rotation_param.degrees"
    if "degrees" not in group:
        raise ConfigError(f"{where} is required")
    value = group["degrees"]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        limit = _number(value, where, minimum=0.0)
        return RandomRotation((-limit, limit))
    lo, hi = (_number(v, where) for v in _pair(value, where))
    if lo > hi:
        raise ConfigError(f"{where} must be [low, high] with low <= high, got {value!r}")
    return RandomRotation((lo, hi))


def _build_resize(group: Mapping[str, Any]) -> RandomResize:
    where = "augmentation_params.resize_param"
    ratio = group.get("ratio", (3.0 / 4.0, 4.0 / 3.0))
    lo, hi = (_number(v, f"{where}.ratio") for v in _pair(ratio, f"{where}.ratio"))
    if not 0 < lo <= hi:
        raise ConfigError(f"{where}.ratio must be [low, high] with 0 < low <= high, got {ratio!r}")
    interpolation = group.get("interpolation", "nearest")
    if interpolation not in ("nearest", "bilinear"):
        raise ConfigError(
            f"{where}.interpolation must be 'nearest' or 'bilinear', got {interpolation!r}"
        )
    return RandomResize((lo, hi), interpolation)


def _build_crop(group: Mapping[str, Any]) -> RandomCrop:
    where = "augmentation_params.crop_param.size"
    if "size" not in group:
        raise ConfigError(f"{where} is required")
    value = group["size"]
    sides = (value, value) if isinstance(value, numbers.Integral) else _pair(value, where)
    size = []
    for side in sides:
        if isinstance(side, bool) or not isinstance(side, numbers.Integral) or side < 1:
            raise ConfigError(f"{where} must be a positive integer or [h, w], got {value!r}")
        size.append(int(side))
    return RandomCrop((size[0], size[1]))


def _build_jitter(group: Mapping[str, Any]) -> ColorJitter:
    where = "augmentation_params.jitter_param"
    values = {key: _number(group.get(key, 0), f"{where}.{key}", 0.0) for key in group}
    if values.get("hue", 0.0) > 0.5:
        raise ConfigError(f"{where}.hue must be in [0, 0.5], got {values['hue']!r}")
    return ColorJitter(**values)
