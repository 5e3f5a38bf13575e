"""The metric formulas on closed-form cases (no detector involved)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tpsmm.errors import TPSMMError
from tpsmm.evaluation import METRICS, FramePoints, MetricTotals, parse_metrics
from tpsmm.evaluation.metrics import embedding_distance, keypoint_distances, l1_distance

RNG = np.random.default_rng(0)
POINTS = RNG.uniform(0, 256, (68, 2))
ALL = np.ones(68, dtype=bool)


def frame(points=POINTS, present=ALL, embedding=None) -> FramePoints:
    return FramePoints(np.asarray(points, float), np.asarray(present, bool), embedding)


def test_l1_is_the_mean_absolute_difference_in_unit_range():
    a = RNG.uniform(size=(2, 4, 5, 3)).astype(np.float32)
    np.testing.assert_allclose(l1_distance(a, a), [0, 0])
    b = np.clip(a + 0.25, 0, 1)
    expected = np.abs(b - a).reshape(2, -1).mean(axis=1)
    np.testing.assert_allclose(l1_distance(b, a), expected, rtol=1e-6)
    black, white = np.zeros((1, 2, 2, 3), np.uint8), np.full((1, 2, 2, 3), 255, np.uint8)
    np.testing.assert_allclose(l1_distance(white, black), [1.0])  # uint8 scaled by 1/255
    with pytest.raises(ValueError, match="shapes differ"):
        l1_distance(a, a[:, :2])


@pytest.mark.parametrize(("dx", "dy"), [(3, -4), (0, 5), (-2.5, 1.5)])
def test_akd_of_a_shift(dx, dy):
    akd, euclidean, count = keypoint_distances(frame(POINTS + np.array([dx, dy])), frame())
    assert count == 68
    assert akd == pytest.approx((abs(dx) + abs(dy)) / 2, abs=1e-12)
    assert euclidean == pytest.approx(math.hypot(dx, dy), abs=1e-12)


def test_akd_uses_only_keypoints_present_in_both():
    present = ALL.copy()
    present[:10] = False
    moved = POINTS.copy()
    moved[:10] += 1000  # absent keypoints may hold anything
    moved[10:] += (1, 0)
    akd, euclidean, count = keypoint_distances(frame(moved, present), frame())
    assert (akd, euclidean, count) == (pytest.approx(0.5), pytest.approx(1.0), 58)
    assert keypoint_distances(FramePoints.nothing(68), frame()) is None


def test_mkr_rules():
    totals = MetricTotals()
    totals.add_keypoints(frame(), frame())  # all found: 68 of 68
    totals.add_keypoints(FramePoints.nothing(68), frame())  # face lost: 68 missing
    totals.add_keypoints(frame(), FramePoints.nothing(68))  # no reference face: not counted
    half = np.arange(68) < 34
    totals.add_keypoints(frame(present=half), frame(present=~half | (np.arange(68) < 17)))
    # reference has 51 keypoints (34..67 and 0..16); generated has 0..33: 17 in common
    assert totals.reference_keypoints == 68 + 68 + 51
    assert totals.missing_keypoints == 0 + 68 + 34
    assert (totals.reference_missing_frames, totals.generated_missing_frames) == (1, 1)
    summary = totals.summary()
    assert summary["mkr"] == pytest.approx(102 / 187)
    assert summary["keypoint_frames"] == 2  # the lost face and the missing reference: no AKD


def test_aed_and_its_square():
    totals = MetricTotals()
    e = RNG.normal(size=128)
    totals.add_identity(frame(embedding=e + 0.3 / math.sqrt(128)), frame(embedding=e))
    totals.add_identity(frame(embedding=e), frame(embedding=e))
    totals.add_identity(frame(embedding=None), frame(embedding=e))  # no face: left out
    summary = totals.summary()
    assert summary["identity_frames"] == 2
    assert summary["aed"] == pytest.approx(0.15)
    assert summary["aed_squared"] == pytest.approx(0.09 / 2)
    assert embedding_distance(np.zeros(2), np.array([3.0, 4.0])) == 5.0


def test_totals_pool_frames_and_report_none_where_unmeasured():
    first, second = MetricTotals(), MetricTotals()
    first.add_l1(np.array([0.1, 0.3]))
    second.add_l1(np.array([0.6]))
    second.add_keypoints(frame(POINTS + np.array([2, 0])), frame())
    merged = first.merge(second)
    summary = merged.summary()
    assert summary["l1"] == pytest.approx(1.0 / 3)  # every frame weighs the same
    assert summary["akd"] == pytest.approx(1.0) and summary["frames"] == 3
    assert summary["aed"] is None and "identity_frames" not in summary
    assert set(METRICS) <= set(summary)
    assert MetricTotals().summary()["l1"] is None


def test_metric_lists():
    assert parse_metrics(None, "face") == ("l1", "akd", "mkr", "aed")
    assert parse_metrics(None, "body") == ("l1", "akd", "mkr")
    assert parse_metrics("AED, l1", "face") == ("l1", "aed")
    with pytest.raises(TPSMMError, match="unknown metrics psnr"):
        parse_metrics("l1,psnr", "face")
    with pytest.raises(TPSMMError, match="faces only"):
        parse_metrics("aed", "body")
    with pytest.raises(TPSMMError, match="kind must be"):
        parse_metrics(None, "cartoon")
