"""Pasting animated frames back into the full-resolution source image (``--paste-back``).

The model animates a square crop of the source (the face crop of ``--crop-face``, or
the square that ``--fit`` cut or padded); :class:`PasteBack` scales each animated
frame back to the size that crop has in the source image and blends it in:

- **Feathered mask**: a rounded square (a superellipse, :data:`MASK_ROUNDNESS`) over
  the crop, 1 inside, falling smoothly to 0 at the crop's edge over
  ``feather`` of its half-side. The corners and everything outside the crop are the
  source's own pixels, exactly.
- **Colour matched at the seam**: the animated frame is offset, per channel, by the
  mean difference between the source and the animated frame over the feather band,
  so that a colour cast of the model does not show as a seam. The offset is
  computed for each frame from the band only (the face inside is not used).

Sub-pixel placement: the crop may start mid-pixel (smoothed face boxes do); the
animated frame is resampled exactly onto the source's pixel grid (Pillow's bicubic
filter), so the pasted face neither shifts nor shakes by rounding.
"""

from __future__ import annotations

import math

import numpy as np

from tpsmm.media.fit import resize_box

#: Exponent of the superellipse |u|^p + |v|^p = 1 the mask follows (2: an ellipse,
#: large: a square).
MASK_ROUNDNESS = 4.0
#: Default width of the mask's falloff, as a fraction of the crop's half-side.
DEFAULT_FEATHER = 0.3
#: The colour offset is limited to this many levels (of 255) per channel.
MAX_COLOUR_OFFSET = 32.0

Rect = tuple[float, float, float, float]


def feather_mask(
    rect: Rect, region: tuple[int, int, int, int], feather: float = DEFAULT_FEATHER
) -> np.ndarray:
    """The blending mask over an integer pixel ``region`` (l, t, r, b) of the source for
    a crop ``rect`` (l, t, r, b, floats): (r - l) x (b - t) float32 in [0, 1].

    Pixel (x, y) is evaluated at its centre (x + 0.5, y + 0.5), in coordinates where the
    crop spans [-1, 1] on both axes: 1 where the superellipse radius is below
    1 - feather, 0 from the crop's edge outwards, a smoothstep in between.
    """
    left, top, right, bottom = rect
    xs = (np.arange(region[0], region[2]) + 0.5 - (left + right) / 2) / ((right - left) / 2)
    ys = (np.arange(region[1], region[3]) + 0.5 - (top + bottom) / 2) / ((bottom - top) / 2)
    p = MASK_ROUNDNESS
    radius = (np.abs(xs)[None, :] ** p + np.abs(ys)[:, None] ** p) ** (1 / p)
    t = np.clip((1.0 - radius) / max(feather, 1e-6), 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def square_rect(cx: float, cy: float, side: float) -> Rect:
    """(l, t, r, b) of a square."""
    return (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)


class PasteBack:
    """Blends animated (S, S, 3) frames into a full-resolution source image.

    Args:
        image: the source, (H, W, 3) uint8, at full resolution.
        rect: where the model's square frame lies in ``image`` (l, t, r, b, pixels; may
            reach outside the image, e.g. the padded square of ``--fit pad``).
        size: S, the model's frame size.
        feather: the mask's falloff (see :func:`feather_mask`).
        colour_match: offset the animated frame's colours to the source's at the seam.

    Attributes:
        region: (l, t, r, b) integer pixels of ``image`` that the mask touches.
        mask: the mask over that region, (h, w) float32.
    """

    def __init__(
        self,
        image: np.ndarray,
        rect: Rect,
        size: int,
        *,
        feather: float = DEFAULT_FEATHER,
        colour_match: bool = True,
    ):
        self.image = np.ascontiguousarray(image)
        self.rect = tuple(float(v) for v in rect)
        self.size = size
        self.colour_match = colour_match
        height, width = image.shape[:2]
        left, top, right, bottom = self.rect
        self.region = (
            max(0, math.floor(left)),
            max(0, math.floor(top)),
            min(width, math.ceil(right)),
            min(height, math.ceil(bottom)),
        )
        if self.region[2] <= self.region[0] or self.region[3] <= self.region[1]:
            raise ValueError(f"the crop {rect} does not meet the {width}x{height} image")
        self.mask = feather_mask(self.rect, self.region, feather)
        self._band = (self.mask > 0) & (self.mask < 1)
        x0, y0, x1, y1 = self.region
        self._source_region = self.image[y0:y1, x0:x1].astype(np.float32)
        # The part of the model's frame that lands on the region, in model pixels.
        scale_x, scale_y = size / (right - left), size / (bottom - top)
        self._model_box = (
            (x0 - left) * scale_x,
            (y0 - top) * scale_y,
            (x1 - left) * scale_x,
            (y1 - top) * scale_y,
        )

    @property
    def output_size(self) -> tuple[int, int]:
        """(width, height) of the pasted frames: the source image's."""
        return self.image.shape[1], self.image.shape[0]

    def resample(self, frame: np.ndarray) -> np.ndarray:
        """An animated (S, S, 3) uint8 frame on the source's pixel grid over
        :attr:`region`: (h, w, 3) float32 in 0..255."""
        x0, y0, x1, y1 = self.region
        return resize_box(frame, self._model_box, (x1 - x0, y1 - y0)).astype(np.float32)

    def colour_offset(self, animated: np.ndarray) -> np.ndarray:
        """(3,) float32: the mean of source - animated over the feather band, limited to
        +-:data:`MAX_COLOUR_OFFSET` (zeros when colour matching is off)."""
        if not self.colour_match or not self._band.any():
            return np.zeros(3, np.float32)
        difference = self._source_region[self._band] - animated[self._band]
        return np.clip(difference.mean(axis=0), -MAX_COLOUR_OFFSET, MAX_COLOUR_OFFSET)

    def paste(self, frame: np.ndarray) -> np.ndarray:
        """One animated (S, S, 3) uint8 frame -> the source with it blended in,
        (H, W, 3) uint8."""
        animated = self.resample(frame)
        animated += self.colour_offset(animated)
        mask = self.mask[:, :, None]
        blended = self._source_region + (animated - self._source_region) * mask
        out = self.image.copy()
        x0, y0, x1, y1 = self.region
        out[y0:y1, x0:x1] = np.clip(blended + 0.5, 0, 255).astype(np.uint8)
        return out

    def paste_batch(self, frames: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 -> (B, H, W, 3) uint8."""
        return np.stack([self.paste(frame) for frame in frames])
