"""Face boxes in pixel coordinates."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

__all__ = ["FaceBox"]


@dataclass(frozen=True)
class FaceBox:
    """An axis-aligned face box in the pixel coordinates of its image.

    Coordinates follow the landmarks': x to the right, y down, pixel (column c, row r)
    at (c, r). ``right`` and ``bottom`` are exclusive, so ``width = right - left``; a
    dlib rectangle ``(l, t, r, b)`` (inclusive corners) is ``FaceBox(l, t, r + 1, b + 1)``.

    Attributes:
        left, top, right, bottom: the box edges, in pixels (float).
        score: the detector's confidence (HOG: SVM margin, about 0 at the threshold;
            CNN: MMOD confidence); NaN for a box given by the caller.
    """

    left: float
    top: float
    right: float
    bottom: float
    score: float = math.nan

    def __post_init__(self) -> None:
        if not (self.right > self.left and self.bottom > self.top):
            raise ValueError(f"empty face box: {self}")

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        """(x, y) of the box centre."""
        return (self.left + self.right) / 2, (self.top + self.bottom) / 2

    def scaled(self, sx: float, sy: float | None = None) -> FaceBox:
        """The same box in an image resized by ``sx`` horizontally and ``sy`` (default
        ``sx``) vertically."""
        sy = sx if sy is None else sy
        return replace(
            self,
            left=self.left * sx,
            top=self.top * sy,
            right=self.right * sx,
            bottom=self.bottom * sy,
        )

    @classmethod
    def from_dlib(cls, rect: Any, score: float = math.nan) -> FaceBox:
        """A box from a ``dlib.rectangle`` (inclusive corners)."""
        return cls(
            float(rect.left()),
            float(rect.top()),
            float(rect.right() + 1),
            float(rect.bottom() + 1),
            float(score),
        )

    def to_dlib(self, dlib: Any) -> Any:
        """The ``dlib.rectangle`` nearest to this box (``dlib`` is the module)."""
        left, top = round(self.left), round(self.top)
        right, bottom = max(round(self.right), left + 1), max(round(self.bottom), top + 1)
        return dlib.rectangle(left, top, right - 1, bottom - 1)
