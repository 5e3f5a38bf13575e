"""Comparing generated frames with reference frames: :class:`Evaluator`.

>>> evaluator = Evaluator(kind="face")                 # detectors loaded once
>>> video = evaluator.video()                          # totals of one video
>>> video.add(generated_frames, reference_frames)      # any number of times, in order
>>> video.summary()                                    # {"l1": ..., "akd": ..., ...}

Frames are (H, W, 3) uint8, or float in [0, 1] (taken as they are for L1 and rounded to
uint8 for the detectors). A generated frame of another size than its reference is
resized to the reference's (bilinear, anti-aliased when shrinking) first, so keypoints
are in pixels of the reference frame. When the same frame object comes again (a still
image compared with every frame of a video), its keypoints are not computed again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch

from tpsmm.data.augmentation import resize_clip
from tpsmm.errors import TPSMMError
from tpsmm.evaluation.keypoints import KINDS, KeypointExtractor, make_extractor
from tpsmm.evaluation.metrics import FramePoints, MetricTotals, l1_distance
from tpsmm.faces import Detector
from tpsmm.media import to_uint8

__all__ = ["METRIC_CHOICES", "Evaluator", "VideoEvaluation", "default_metrics", "parse_metrics"]

#: What ``--metrics`` chooses from; ``akd`` brings ``akd_euclidean``, ``aed`` ``aed_squared``.
METRIC_CHOICES = ("l1", "akd", "mkr", "aed")


def default_metrics(kind: str) -> tuple[str, ...]:
    """Every metric ``kind`` has: faces all four, bodies all but AED."""
    return METRIC_CHOICES if kind == "face" else ("l1", "akd", "mkr")


def parse_metrics(value: str | Iterable[str] | None, kind: str) -> tuple[str, ...]:
    """Metric names from ``"l1,akd"`` or a list, in the canonical order; None: all of
    ``kind``'s.

    Raises:
        TPSMMError: an unknown name, an empty list, or AED for bodies.
    """
    if kind not in KINDS:
        raise TPSMMError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if value is None:
        return default_metrics(kind)
    names = [n.strip().lower() for n in value.split(",")] if isinstance(value, str) else list(value)
    names = [n for n in names if n]
    unknown = sorted(set(names) - set(METRIC_CHOICES))
    if unknown or not names:
        raise TPSMMError(
            f"unknown metrics {', '.join(unknown) or '(none given)'}: choose from "
            f"{', '.join(METRIC_CHOICES)}"
        )
    if kind == "body" and "aed" in names:
        raise TPSMMError(
            "AED is measured for faces only: no person re-identification network ships "
            "in an installable package"
        )
    return tuple(n for n in METRIC_CHOICES if n in names)


class Evaluator:
    """The metrics of one kind of footage, with its detectors loaded once.

    Args:
        kind: ``"face"`` or ``"body"``.
        metrics: a subset of :data:`METRIC_CHOICES` (default: all of ``kind``'s).
        extractor: a keypoint extractor to use instead of the default one.
        face_detector, upsample: the dlib detector settings (faces).

    Raises:
        TPSMMError: a bad metric list, or the extra the detectors need is missing.
    """

    def __init__(
        self,
        kind: str = "face",
        metrics: str | Iterable[str] | None = None,
        *,
        extractor: KeypointExtractor | None = None,
        face_detector: Detector = "hog",
        upsample: int = 1,
    ) -> None:
        self.kind = kind
        self.metrics = parse_metrics(metrics, kind)
        self.keypoints = "akd" in self.metrics or "mkr" in self.metrics
        self.identity = "aed" in self.metrics
        self.extractor: KeypointExtractor | None = extractor
        if self.extractor is None and (self.keypoints or self.identity):
            self.extractor = make_extractor(
                kind, identity=self.identity, face_detector=face_detector, upsample=upsample
            )

    def video(self) -> VideoEvaluation:
        """A new, empty per-video accumulator."""
        return VideoEvaluation(self)

    def compare(self, generated: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> dict:
        """The :meth:`VideoEvaluation.summary` of two frame sequences of equal length."""
        video = self.video()
        video.add(generated, reference)
        return video.summary()

    def summarize(self, totals: MetricTotals) -> dict[str, Any]:
        """:meth:`MetricTotals.summary` with the metrics not chosen as None."""
        report = totals.summary()
        families = {"akd": "akd", "akd_euclidean": "akd", "mkr": "mkr", "l1": "l1"}
        families |= {"aed": "aed", "aed_squared": "aed"}
        for name, family in families.items():
            if family not in self.metrics:
                report[name] = None
        return report

    def describe(self) -> dict[str, Any]:
        """The settings, for reports."""
        extractor = self.extractor
        return {
            "kind": self.kind,
            "metrics": list(self.metrics),
            "detector": extractor.description if extractor is not None else None,
        }


class VideoEvaluation:
    """Running totals of one generated/reference video pair (see the module doc)."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.totals = MetricTotals()
        self.resized_from: tuple[int, int] | None = None
        self._cache: dict[str, tuple[object, FramePoints]] = {}
        self._last_fit: tuple[object, tuple[int, ...], np.ndarray] | None = None

    def add(self, generated: Sequence[np.ndarray], reference: Sequence[np.ndarray]) -> None:
        """Add frame pairs: ``generated[i]`` against ``reference[i]``."""
        if len(generated) != len(reference):
            raise ValueError(f"{len(generated)} generated frames, {len(reference)} reference")
        if not len(generated):
            return
        generated = [self._fit(g, r.shape[:2]) for g, r in zip(generated, reference, strict=True)]
        if "l1" in self.evaluator.metrics:
            self.totals.add_l1(
                np.concatenate([_l1(g, r) for g, r in zip(generated, reference, strict=True)])
            )
        else:
            self.totals.frames += len(generated)
        evaluator = self.evaluator
        if not (evaluator.keypoints or evaluator.identity):
            return
        for frame, ref in zip(generated, reference, strict=True):
            points = self._points("generated", frame)
            ref_points = self._points("reference", ref)
            if evaluator.keypoints:
                self.totals.add_keypoints(points, ref_points)
            if evaluator.identity:
                self.totals.add_identity(points, ref_points)

    def summary(self) -> dict[str, Any]:
        """The means and counts of this video (:meth:`Evaluator.summarize`)."""
        report = self.evaluator.summarize(self.totals)
        if self.resized_from is not None:
            report["resized_from"] = list(self.resized_from)
        return report

    def _fit(self, frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        if frame.shape[:2] == tuple(size):
            return frame
        last = self._last_fit
        if last is not None and last[0] is frame and last[1] == tuple(size):
            return last[2]  # the same still image again: the same resized object
        self.resized_from = (int(frame.shape[0]), int(frame.shape[1]))
        values = frame.astype(np.float32) / 255 if frame.dtype == np.uint8 else frame
        clip = torch.from_numpy(np.ascontiguousarray(values, dtype=np.float32))[None]
        resized = resize_clip(clip.permute(0, 3, 1, 2), tuple(size)).permute(0, 2, 3, 1)[0]
        self._last_fit = (frame, tuple(size), resized.numpy())
        return self._last_fit[2]

    def _points(self, side: str, frame: np.ndarray) -> FramePoints:
        cached = self._cache.get(side)
        if cached is not None and cached[0] is frame:
            return cached[1]
        extractor = self.evaluator.extractor
        assert extractor is not None
        points = extractor(to_uint8(frame), embedding=self.evaluator.identity)
        self._cache[side] = (frame, points)
        return points


def _l1(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return l1_distance(generated[None], reference[None])
