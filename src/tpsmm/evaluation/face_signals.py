"""Landmark signals of a face over time, and how well two such signals agree.

``tpsmm benchmark-faces`` asks how a result follows its driving video: each frame's 68
dlib landmarks (0-based iBUG 300-W indices: jaw 0-16, brows 17-26, nose 27-35, the
subject's right eye 36-41, which is on the image's left in a frontal face, the left eye
42-47, outer lips 48-59, inner lips 60-67) give five numbers, and the driving video's
and the result's series are compared by their Pearson correlation over time.

Definitions (points as (x, y) pixels, y down; ``|a - b|`` the Euclidean distance):

* eye centres ``R = mean(p36..p41)``, ``L = mean(p42..p47)``; ``E = (R + L) / 2``;
  the inter-ocular distance ``iod = |L - R|``; the face's axes ``u = (L - R) / iod``
  (along the eyes, to the image's right for an upright face) and ``v = (-u_y, u_x)``
  (perpendicular, down the face);
* **mouth** opening: the inner-lip gap over the inter-ocular distance,
  ``(|p61 - p67| + |p62 - p66| + |p63 - p65|) / 3 / iod`` (0 closed);
* **eyes** opening: the eye aspect ratio averaged over both eyes; for an eye with
  points e0..e5 (36..41, or 42..47) ``(|e1 - e5| + |e2 - e4|) / (2 |e0 - e3|)``: the
  lids' distance over the corners' (about 0.3 open, under 0.1 closed);
* **roll**: the angle of the line through the eye centres, ``atan2((L - R)_y,
  (L - R)_x)`` in degrees (0 upright, positive when the head tilts clockwise on screen);
* **yaw**: the nose tip's offset along the eye line from the eyes' midpoint, ``(p30 -
  E) . u / iod`` (positive when the nose points to the image's right);
* **pitch**: the nose tip's distance below the eye line, ``(p30 - E) . v / iod``
  (grows when the head tilts down).

No 3D face model ships with tpsmm, so yaw and pitch are geometric proxies, not angles:
the nose tip stands in front of the eyes, so turning the head by an angle a moves it
across the face by about ``depth * sin(a)`` while the eye distance shrinks by
``cos(a)``: yaw is about ``c * tan(a)`` (plus the person's own asymmetry, a constant);
tilting the head moves the nose tip down the face in the same way (pitch is about ``c0
+ c * tan(a)``). Both are monotone in their angle while the others stay fixed; the
cross-talk is second order (a yaw of 20 degrees shortens ``iod`` by 6%, which raises
mouth opening and pitch by as much). All five are invariant to translation and scale
(ratios of distances in the face's own axes), and to in-plane rotation except roll,
which moves by the rotation's angle. A horizontal flip negates yaw and roll and keeps
the other three (the flip exchanges the eyes and the lips' left and right points: see
:data:`MIRRORED`). Pearson's r is unchanged by any positive affine map of either
series, so proxies that are monotone (nearly linear over the range a head turns) in the
angles measure how a result follows its driver as the angles would.

**Correlation** (:func:`correlation`): over the frames where both series have a value
(a frame where either side has no face is left out), Pearson's
``r = sum(x y) / sqrt(sum(x^2) sum(y^2))`` of the centred series. Fewer than
``min_frames`` such frames give no r (None, reported as too few). A constant series (a
still result: all values equal up to :data:`CONSTANT_TOLERANCE` of their magnitude)
carries no information about the other, and counts as r = 0 rather than undefined.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "CONSTANT_TOLERANCE",
    "MIN_CEILING",
    "MIN_FRAMES",
    "MIRRORED",
    "SIGNALS",
    "Correlation",
    "correlation",
    "face_signals",
    "signal_series",
]

#: The signals, in the order of :func:`face_signals`' values.
SIGNALS: tuple[str, ...] = ("mouth", "eyes", "yaw", "pitch", "roll")
RIGHT_EYE: tuple[int, ...] = tuple(range(36, 42))
LEFT_EYE: tuple[int, ...] = tuple(range(42, 48))
NOSE_TIP = 30
#: Inner-lip point pairs (upper, lower) whose distances make the mouth opening.
INNER_LIP_PAIRS: tuple[tuple[int, int], ...] = ((61, 67), (62, 66), (63, 65))
#: Fewest frames with a face on both sides for a correlation.
MIN_FRAMES = 10
#: A driving video's signal is measurable (counts in the means of ``tpsmm
#: benchmark-faces``) when its ceiling r is at least this (:mod:`.face_summary`).
MIN_CEILING = 0.8
#: A series whose values all lie within this fraction of their largest magnitude (or of
#: 1, if smaller) of each other is constant.
CONSTANT_TOLERANCE = 1e-9

#: ``MIRRORED[i]``: the index that landmark i gets in the horizontally flipped image
#: (the subject's right and left exchange places; points on the midline keep theirs).
MIRRORED: tuple[int, ...] = (
    *range(16, -1, -1),  # jaw
    *range(26, 16, -1),  # brows
    27, 28, 29, 30,  # nose bridge
    35, 34, 33, 32, 31,  # nostrils
    45, 44, 43, 42, 47, 46,  # right eye <- left eye
    39, 38, 37, 36, 41, 40,  # left eye <- right eye
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lips
    64, 63, 62, 61, 60, 67, 66, 65,  # inner lips
)  # fmt: skip


def _eye_aspect_ratio(eye: np.ndarray) -> float:
    """(6, 2) points e0..e5 -> ``(|e1 - e5| + |e2 - e4|) / (2 |e0 - e3|)`` (NaN when the
    corners coincide)."""
    lids = np.linalg.norm(eye[1] - eye[5]) + np.linalg.norm(eye[2] - eye[4])
    corners = np.linalg.norm(eye[0] - eye[3])
    return float(lids / (2 * corners)) if corners > 0 else math.nan


def face_signals(landmarks: np.ndarray) -> np.ndarray:
    """The five signals of one face (see the module doc).

    Args:
        landmarks: (68, 2) pixel coordinates (x, y) in dlib's order.

    Returns:
        (5,) float64 in the order of :data:`SIGNALS`: mouth, eyes (ratios), yaw, pitch
        (ratios), roll (degrees); NaN where the eye centres coincide.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (68, 2):
        raise ValueError(f"expected (68, 2) landmarks, got shape {points.shape}")
    right, left = points[list(RIGHT_EYE)], points[list(LEFT_EYE)]
    across = left.mean(axis=0) - right.mean(axis=0)
    iod = float(np.hypot(*across))
    if not iod > 0:
        return np.full(len(SIGNALS), np.nan)
    u = across / iod
    v = np.array([-u[1], u[0]])
    nose = points[NOSE_TIP] - (left.mean(axis=0) + right.mean(axis=0)) / 2
    gap = np.mean([np.linalg.norm(points[a] - points[b]) for a, b in INNER_LIP_PAIRS])
    return np.array(
        [
            gap / iod,
            (_eye_aspect_ratio(right) + _eye_aspect_ratio(left)) / 2,
            float(nose @ u) / iod,
            float(nose @ v) / iod,
            math.degrees(math.atan2(across[1], across[0])),
        ]
    )


def signal_series(landmarks: Sequence[np.ndarray | None]) -> np.ndarray:
    """(T, 5) signals of a sequence of frames' landmarks; rows of NaN where None."""
    rows = [
        np.full(len(SIGNALS), np.nan) if points is None else face_signals(points)
        for points in landmarks
    ]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(SIGNALS))


@dataclass(frozen=True)
class Correlation:
    """Pearson's r of two series over the frames where both have a value.

    Attributes:
        r: in [-1, 1]; 0 when a series is constant; None with fewer than ``min_frames``
            frames.
        frames: the frames it was computed on.
        constant: whether a series was constant (r is then 0).
    """

    r: float | None
    frames: int
    constant: bool = False


def _is_constant(values: np.ndarray) -> bool:
    spread = float(values.max() - values.min())
    return spread <= CONSTANT_TOLERANCE * max(1.0, float(np.abs(values).max()))


def correlation(first: np.ndarray, second: np.ndarray, min_frames: int = MIN_FRAMES) -> Correlation:
    """Pearson's r of two (T,) series (NaN: no value at that frame); see the module doc."""
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    if first.shape != second.shape or first.ndim != 1:
        raise ValueError(f"expected two (T,) series, got {first.shape} and {second.shape}")
    both = np.isfinite(first) & np.isfinite(second)
    frames = int(both.sum())
    if frames < max(min_frames, 2):
        return Correlation(None, frames)
    x, y = first[both], second[both]
    if _is_constant(x) or _is_constant(y):
        return Correlation(0.0, frames, constant=True)
    x, y = x - x.mean(), y - y.mean()
    r = float((x @ y) / math.sqrt(float(x @ x) * float(y @ y)))
    return Correlation(min(1.0, max(-1.0, r)), frames)
