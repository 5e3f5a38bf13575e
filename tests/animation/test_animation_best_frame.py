"""Landmark normalisation and the best-frame search, with fake landmark functions."""

from __future__ import annotations

import numpy as np
import pytest

from tpsmm.animation.best_frame import (
    find_best_frame,
    landmark_distance,
    normalize_landmarks,
)
from tpsmm.errors import TPSMMError

SQUARE = np.array([[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [0.0, 2.0]])


def test_normalisation_centres_and_scales_by_hull_area():
    normalized = normalize_landmarks(SQUARE + np.array([10.0, -3.0]))
    np.testing.assert_allclose(normalized.mean(axis=0), 0, atol=1e-12)
    # area 4 -> divided by 2: the unit square's corners at +-0.5
    np.testing.assert_allclose(normalized, (SQUARE - 1.0) / 2.0)


def test_normalisation_ignores_translation_and_scale_not_shape():
    rng = np.random.default_rng(1)
    points = rng.uniform(0, 100, (68, 2))
    same = normalize_landmarks(points * 3.5 + [7.0, -20.0])
    np.testing.assert_allclose(same, normalize_landmarks(points), atol=1e-12)
    other = points.copy()
    other[:10] += 15.0
    assert landmark_distance(normalize_landmarks(other), normalize_landmarks(points)) > 1e-3
    assert normalize_landmarks(points).dtype == np.float64


def test_normalisation_uses_the_hull_not_the_bounding_box():
    triangle = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0], [1.0, 1.0]])  # hull area 8
    centred = triangle - triangle.mean(axis=0)
    np.testing.assert_allclose(normalize_landmarks(triangle), centred / np.sqrt(8.0))


def test_normalisation_refuses_collinear_points():
    with pytest.raises(ValueError, match="collinear"):
        normalize_landmarks(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        normalize_landmarks(np.zeros((5, 3)))


def test_distance_is_the_sum_of_squares():
    assert landmark_distance(np.zeros((2, 2)), np.array([[1.0, 2.0], [0.0, 3.0]])) == 14.0


def frames(count: int) -> list[np.ndarray]:
    """Frames whose first pixel holds their index (the fake landmark functions read it)."""
    out = []
    for index in range(count):
        frame = np.zeros((4, 4, 3), np.uint8)
        frame[0, 0, 0] = index
        out.append(frame)
    return out


SOURCE = np.full((4, 4, 3), 255, np.uint8)
BASE = np.random.default_rng(2).uniform(0, 50, (68, 2))
BEND = np.random.default_rng(3).normal(size=(68, 2))


def landmarks_by_offset(offsets: dict[int, float | None]):
    """Source: BASE; frame i: BASE bent by offsets[i] (None: no face)."""

    def landmarks(image):
        if image[0, 0, 0] == 255:
            return BASE
        offset = offsets[int(image[0, 0, 0])]
        return None if offset is None else BASE * 2 + 1 + offset * BEND

    return landmarks


def test_picks_the_closest_frame_and_counts_faces():
    offsets = {0: 3.0, 1: None, 2: 0.5, 3: 1.0, 4: None}
    best = find_best_frame(SOURCE, iter(frames(5)), landmarks_by_offset(offsets))
    assert (best.index, best.faces) == (2, 3)
    assert best.frame[0, 0, 0] == 2
    assert best.distance == pytest.approx(
        landmark_distance(normalize_landmarks(BASE), normalize_landmarks(BASE * 2 + 1 + BEND / 2))
    )


def test_ties_keep_the_first_frame():
    best = find_best_frame(SOURCE, frames(3), landmarks_by_offset({0: 1.0, 1: 0.0, 2: 0.0}))
    assert best.index == 1


def test_the_best_frame_is_a_copy():
    batch = np.stack(frames(3))
    best = find_best_frame(SOURCE, iter(batch), landmarks_by_offset({0: 1.0, 1: 0.0, 2: 2.0}))
    batch[:] = 0
    assert best.frame[0, 0, 0] == 1


def test_without_any_face_the_first_frame_is_used():
    best = find_best_frame(SOURCE, frames(3), landmarks_by_offset({0: None, 1: None, 2: None}))
    assert (best.index, best.faces, best.distance) == (0, 0, float("inf"))


def test_source_without_a_face():
    with pytest.raises(TPSMMError, match=r"^me\.png: no face found in the source image"):
        find_best_frame(SOURCE, frames(2), lambda image: None, source_name="me.png")


def test_collinear_driving_landmarks_count_as_no_face():
    def landmarks(image):
        if image[0, 0, 0] == 255 or image[0, 0, 0] == 1:
            return BASE
        return np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])

    best = find_best_frame(SOURCE, frames(3), landmarks)
    assert (best.index, best.faces) == (1, 1)


def test_empty_driving_video():
    with pytest.raises(TPSMMError, match="no frames"):
        find_best_frame(SOURCE, [], landmarks_by_offset({}))
