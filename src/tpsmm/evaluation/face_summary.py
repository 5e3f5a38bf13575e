"""The averages of ``tpsmm benchmark-faces``' report.

**Measurable signals.** A correlation only means something when the driving signal
moves more than dlib's noise: a video whose mouth stays shut has a mouth signal of
landmark jitter, which no result can follow. The ceiling (a video's signals against its
own frames at the model's size, :func:`.face_benchmark.ceiling_correlations`) tells
them apart: a signal of a video is *measurable* when its ceiling r is at least
``min_ceiling`` (:data:`.face_signals.MIN_CEILING`, 0.8: the instrument alone costs it at most a
fifth). Means of r (``r``, ``r_pose``) count the measurable ones only, with how many
(``r_counted``); ``r_all`` and ``r_pose_all`` count every pair.

Means: a signal's r over pairs (or videos) is the mean of their r (those with too few
frames left out); ``r_pose`` the mean of yaw's, pitch's and roll's; the identity
distance the mean of the pairs' means; face found the share of all result frames;
folding the mean over all frames with a face region, and the worst frame.
Reconstruction pools every frame of every video (:class:`~.metrics.MetricTotals`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from tpsmm.evaluation.face_benchmark import PairResult, ReconstructionResult
from tpsmm.evaluation.face_signals import MIN_CEILING, SIGNALS
from tpsmm.evaluation.metrics import MetricTotals

__all__ = [
    "MIN_CEILING",
    "POSE",
    "measurable_signals",
    "r_summary",
    "summarize_ceiling",
    "summarize_pairs",
    "summarize_reconstruction",
]

POSE: tuple[str, ...] = ("yaw", "pitch", "roll")
#: video name -> signal name -> measurable
Measurable = Mapping[str, Mapping[str, bool]]


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [value for value in values if value is not None]
    return float(np.mean(kept)) if kept else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _pose(r: Mapping[str, float | None]) -> float | None:
    values = [r[name] for name in POSE]
    return None if None in values else float(np.mean(values))


def measurable_signals(ceiling: Mapping[str, Mapping[str, Any]], min_ceiling: float) -> Measurable:
    """Which signals of each video are measurable, from the videos' ceiling correlations
    (:func:`.face_benchmark.correlations` entries)."""
    return {
        video: {
            name: entry[name]["r"] is not None and entry[name]["r"] >= min_ceiling
            for name in SIGNALS
        }
        for video, entry in ceiling.items()
    }


def r_summary(entries: Sequence[tuple[str, Mapping[str, Any]]], measurable: Measurable) -> dict:
    """Mean r per signal of ``(video name, correlations)`` entries (see the module doc)."""
    r, r_all, counted = {}, {}, {}
    for name in SIGNALS:
        values = [(video, found[name]["r"]) for video, found in entries]
        values = [(video, value) for video, value in values if value is not None]
        kept = [value for video, value in values if measurable[video][name]]
        r[name], r_all[name], counted[name] = _mean(kept), _mean([v for _, v in values]), len(kept)
    return {
        "r": r,
        "r_pose": _pose(r),
        "r_counted": counted,
        "r_all": r_all,
        "r_pose_all": _pose(r_all),
    }


def _folding(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    frames = sum(entry["frames"] for entry in entries)
    if not frames:
        return {"mean": None, "worst": None, "frames": 0}
    measured = [entry for entry in entries if entry["frames"]]
    return {
        "mean": sum(entry["mean"] * entry["frames"] for entry in measured) / frames,
        "worst": max(entry["worst"] for entry in measured),
        "frames": frames,
    }


def summarize_pairs(pairs: Sequence[PairResult], measurable: Measurable) -> dict[str, Any]:
    """The averages of cross-identity pairs."""
    frames = sum(pair.frames for pair in pairs)
    return {
        "pairs": len(pairs),
        "frames": frames,
        **r_summary([(pair.video, pair.correlations) for pair in pairs], measurable),
        "identity_distance": _mean([pair.identity_distance for pair in pairs]),
        "face_found": sum(pair.faces_found for pair in pairs) / frames if frames else None,
        "folding": _folding([pair.folding for pair in pairs]),
    }


def _reconstruction_entry(
    results: Sequence[ReconstructionResult], measurable: Measurable
) -> dict[str, Any]:
    model, still = MetricTotals(), MetricTotals()
    for result in results:
        model, still = model.merge(result.model), still.merge(result.still)
    ours, theirs = model.summary(), still.summary()
    entry: dict[str, Any] = {"frames": ours["frames"]}
    for name in ("l1", "akd", "aed"):
        entry[name] = ours[name]
        entry[f"{name}_no_motion"] = theirs[name]
        entry[f"{name}_ratio"] = _ratio(ours[name], theirs[name])
    with_face = model.frames - model.reference_missing_frames
    entry["face_found"] = 1 - model.generated_missing_frames / with_face if with_face else None
    entry["reference_missing_frames"] = model.reference_missing_frames
    entry["identity_frames"] = model.identity_frames
    entry |= r_summary([(result.name, result.correlations) for result in results], measurable)
    entry["folding"] = _folding([result.folding for result in results])
    return entry


def summarize_reconstruction(
    results: Sequence[ReconstructionResult], measurable: Measurable
) -> dict[str, Any]:
    """Per video, and pooled over all frames of all videos (``overall``)."""
    return {
        "overall": _reconstruction_entry(results, measurable),
        "videos": {result.name: _reconstruction_entry([result], measurable) for result in results},
    }


def summarize_ceiling(
    ceiling: Mapping[str, Mapping[str, Any]], measurable: Measurable
) -> dict[str, Any]:
    """The ceiling correlations per video and their means (over every video)."""
    every = {video: dict.fromkeys(SIGNALS, True) for video in ceiling}
    return {
        "overall": r_summary(list(ceiling.items()), every),
        "videos": {video: r_summary([(video, entry)], every) for video, entry in ceiling.items()},
        "measurable": {name: [v for v in ceiling if measurable[v][name]] for name in SIGNALS},
    }
