"""The paper's metrics, frame by frame: L1, AKD, MKR and AED (formulas below).

Every metric compares a generated frame with its reference frame (the ground truth of
video reconstruction). Keypoints are in pixels of the reference frame: a generated
video of another size is resized to the reference's before anything is measured.

**L1** ``mean |generated - reference|`` over pixels and channels, values in [0, 1];
the mean over all frames.

**Keypoints.** Each frame gives K keypoints ``(x, y)`` and which of them are present:
faces 68 dlib landmarks, all present when a face is found and all absent otherwise;
bodies 33 MediaPipe landmarks, present when the person is found and the landmark's
visibility is at least 0.5. Let R be the keypoints present in the reference frame and
C those present in both frames.

**AKD** (average keypoint distance), per frame over C, in pixels:

* ``akd = 1/(2|C|) sum_k (|dx_k| + |dy_k|)``, the mean absolute difference per
  coordinate, which is what the common evaluation scripts compute
  (``np.mean(np.abs(kp_reference - kp_generated))``);
* ``akd_euclidean = 1/|C| sum_k sqrt(dx_k^2 + dy_k^2)``, the mean distance.

A shift of every keypoint by (dx, dy) gives ``akd = (|dx| + |dy|) / 2`` and
``akd_euclidean = sqrt(dx^2 + dy^2)``. Frames with C empty are left out; the figure of
a video (or of all videos) is the mean over the frames that have one.

**MKR** (missing keypoint rate): ``sum |R - C| / sum |R|`` over the frames: the share
of the keypoints present in the reference that are absent from the generated frame.
Keypoints absent from the reference do not count, whatever the generated frame has. For
faces this is the share of frames with a face in the reference and none in the
generated frame.

**AED** (average Euclidean distance of identity embeddings), per frame where both
frames give an embedding: ``aed = ||e_generated - e_reference||`` and
``aed_squared = ||e_generated - e_reference||^2``, the squared distance the common
scripts report; the mean over those frames. Faces use dlib's 128-d embeddings (the
same person is usually within 0.6). Bodies have no AED: no person re-identification
network ships in an installable package (the common scripts used a ResNet-50 re-id
model whose weights were only ever on a file host).

Frames whose reference has no face (no person) count for L1 only: they are left out of
AKD, MKR and AED, and counted as ``reference_missing_frames``. Frames whose reference
has one and the generated frame none count in MKR (all of their keypoints missing) and
as ``generated_missing_frames``, and are left out of AKD and AED.

Because the detectors differ from the ones behind the paper's tables (face-alignment
and OpenFace for faces, OpenPose for bodies), the figures are on the same scale as the
paper's (pixels, squared embedding distances) but are not the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

__all__ = [
    "METRICS",
    "FramePoints",
    "MetricTotals",
    "embedding_distance",
    "keypoint_distances",
    "l1_distance",
]

#: The metric names, in the order reports list them.
METRICS = ("l1", "akd", "akd_euclidean", "mkr", "aed", "aed_squared")


@dataclass(frozen=True)
class FramePoints:
    """What a keypoint extractor finds in one frame.

    Attributes:
        points: (K, 2) float64 keypoints (x, y) in pixels (anything where absent).
        present: (K,) bool, which keypoints were found.
        embedding: (D,) float64 identity embedding, or None (not found, not asked for,
            or no identity network for this kind).
    """

    points: np.ndarray
    present: np.ndarray
    embedding: np.ndarray | None = None

    @classmethod
    def nothing(cls, count: int) -> FramePoints:
        """A frame where nothing was found: K = ``count`` absent keypoints."""
        return cls(np.zeros((count, 2)), np.zeros(count, dtype=bool), None)

    @property
    def found(self) -> bool:
        """Whether any keypoint is present."""
        return bool(self.present.any())


def l1_distance(generated: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-frame L1: ``mean |generated - reference|`` over all but the first axis.

    Args:
        generated, reference: (T, H, W, 3) float in [0, 1] (or uint8, scaled by 1/255).

    Returns:
        (T,) float64.
    """
    generated, reference = _as_unit_float(generated), _as_unit_float(reference)
    if generated.shape != reference.shape:
        raise ValueError(f"shapes differ: {generated.shape} and {reference.shape}")
    difference = np.abs(generated - reference, dtype=np.float32)
    return difference.reshape(difference.shape[0], -1).mean(axis=1, dtype=np.float64)


def _as_unit_float(frames: np.ndarray) -> np.ndarray:
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / np.float32(255)
    return np.asarray(frames, dtype=np.float32)


def keypoint_distances(
    generated: FramePoints, reference: FramePoints
) -> tuple[float, float, int] | None:
    """AKD of one frame pair over the keypoints present in both.

    Returns:
        ``(akd, akd_euclidean, count)`` (see the module doc), or None when no keypoint
        is present in both frames.
    """
    common = generated.present & reference.present
    count = int(common.sum())
    if count == 0:
        return None
    delta = generated.points[common] - reference.points[common]
    per_coordinate = float(np.abs(delta).mean())
    euclidean = float(np.sqrt((delta**2).sum(axis=1)).mean())
    return per_coordinate, euclidean, count


def embedding_distance(generated: np.ndarray, reference: np.ndarray) -> float:
    """``||generated - reference||``, the Euclidean distance of two embeddings."""
    return float(
        np.linalg.norm(np.asarray(generated, np.float64) - np.asarray(reference, np.float64))
    )


@dataclass
class MetricTotals:
    """Running sums of the metrics over frames; :meth:`summary` gives the means.

    Totals of several videos add up with :meth:`merge`, so the overall figures weigh
    every frame equally (as the authors' scripts do, which pool all frames).
    """

    frames: int = 0
    l1_sum: float = 0.0
    keypoint_frames: int = 0
    akd_sum: float = 0.0
    akd_euclidean_sum: float = 0.0
    reference_keypoints: int = 0
    missing_keypoints: int = 0
    reference_missing_frames: int = 0
    generated_missing_frames: int = 0
    identity_frames: int = 0
    aed_sum: float = 0.0
    aed_squared_sum: float = 0.0
    keypoints_measured: bool = field(default=False, compare=False)
    identity_measured: bool = field(default=False, compare=False)

    def add_l1(self, values: np.ndarray) -> None:
        """Add per-frame L1 values (:func:`l1_distance`)."""
        self.frames += int(np.size(values))
        self.l1_sum += float(np.sum(values, dtype=np.float64))

    def add_keypoints(self, generated: FramePoints, reference: FramePoints) -> None:
        """Add one frame pair's AKD and MKR counts."""
        self.keypoints_measured = True
        if not reference.found:
            self.reference_missing_frames += 1
            return
        if not generated.found:
            self.generated_missing_frames += 1
        present = int(reference.present.sum())
        self.reference_keypoints += present
        self.missing_keypoints += present - int((reference.present & generated.present).sum())
        distances = keypoint_distances(generated, reference)
        if distances is not None:
            self.keypoint_frames += 1
            self.akd_sum += distances[0]
            self.akd_euclidean_sum += distances[1]

    def add_identity(self, generated: FramePoints, reference: FramePoints) -> None:
        """Add one frame pair's embedding distance (when both frames have one)."""
        self.identity_measured = True
        if generated.embedding is None or reference.embedding is None:
            return
        distance = embedding_distance(generated.embedding, reference.embedding)
        self.identity_frames += 1
        self.aed_sum += distance
        self.aed_squared_sum += distance**2

    def merge(self, other: MetricTotals) -> MetricTotals:
        """The totals of both (a new object)."""
        merged = MetricTotals()
        for item in fields(self):
            first, second = getattr(self, item.name), getattr(other, item.name)
            value = (first or second) if isinstance(first, bool) else first + second
            setattr(merged, item.name, value)
        return merged

    def summary(self) -> dict[str, Any]:
        """The metrics (None where nothing was measured) and the frame counts."""

        def mean(total: float, count: int) -> float | None:
            return total / count if count else None

        report: dict[str, Any] = {
            "l1": mean(self.l1_sum, self.frames),
            "akd": mean(self.akd_sum, self.keypoint_frames),
            "akd_euclidean": mean(self.akd_euclidean_sum, self.keypoint_frames),
            "mkr": mean(self.missing_keypoints, self.reference_keypoints),
            "aed": mean(self.aed_sum, self.identity_frames),
            "aed_squared": mean(self.aed_squared_sum, self.identity_frames),
            "frames": self.frames,
        }
        if self.keypoints_measured:
            report |= {
                "keypoint_frames": self.keypoint_frames,
                "reference_missing_frames": self.reference_missing_frames,
                "generated_missing_frames": self.generated_missing_frames,
                "reference_keypoints": self.reference_keypoints,
                "missing_keypoints": self.missing_keypoints,
            }
        if self.identity_measured:
            report["identity_frames"] = self.identity_frames
        return {key: _finite(value) for key, value in report.items()}


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
