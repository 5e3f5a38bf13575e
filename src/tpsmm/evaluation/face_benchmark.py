"""How a model animates faces (``tpsmm benchmark-faces``): reconstruction, cross-identity
motion transfer, identity and folding, measured with dlib.

**Reconstruction** (the paper's protocol, as ``tpsmm reconstruct``): each video's first
kept frame is the source and every kept frame drives it in standard mode, the background
predictor on when the model has one. Against the real frames: L1 (at the model's size),
AKD and AED (at the analysis size) as :mod:`tpsmm.evaluation.metrics` defines them,
beside the no-motion baseline (the source repeated: its L1, and the landmarks and
embedding of the source brought to the analysis size as a result is) and their ratios
(below 1: the model reproduces motion). The five landmark signals of
:mod:`.face_signals` are also correlated between the frames and their reconstructions.

**Cross-identity**: every source is animated by every video in relative mode, exactly as
``tpsmm animate`` does by default (:class:`tpsmm.animation.Animator`; the reference is
the first driving frame); without separate sources, each video's first frame drives by
every other video. Per pair: Pearson's r of each signal between the driving frames and
the results (:func:`.face_signals.correlation`); the **identity distance**, the mean
over the results' identity frames of the Euclidean distance of their dlib embeddings
from the source's (dlib's own threshold for "another person" is 0.6); the share of
results with a face (**face found**); **folding**, the share of the face's cells where
the deformation's Jacobian determinant is <= 0 (:mod:`.folding`; the face is the
result's landmark hull, or the source's where the result has none), per frame, with its
mean and worst frame.

**Ceiling**: the same signals between each driving video and its own frames at the
model's size brought back to the analysis size, what a model that reproduced the driving
frames perfectly would get (the measure's noise floor: near 1 but not 1).

Every frame is analysed once at the analysis size (dlib's 68 landmarks from
:class:`tpsmm.evaluation.keypoints.FaceKeypoints`, the face metrics' detector): the
driving frames once per video, whatever the number of sources; embeddings (the costly
part, about 0.2 s a face on a 2-core CPU) only on ``identity_frames`` frames of each
sequence, evenly spaced. The model runs in batches; the per-source work (keypoints,
encoder features) is done once per source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from tpsmm.animation.animator import Animator
from tpsmm.evaluation.compare import Evaluator
from tpsmm.evaluation.face_inputs import DrivingVideo, SourceImage
from tpsmm.evaluation.face_signals import (
    MIN_CEILING,
    MIN_FRAMES,
    SIGNALS,
    correlation,
    signal_series,
)
from tpsmm.evaluation.folding import folded_share, hull_mask, jacobian_determinant
from tpsmm.evaluation.metrics import FramePoints, MetricTotals, embedding_distance, l1_distance
from tpsmm.media import fit_frame, to_uint8
from tpsmm.media.tensors import frames_to_tensor, tensor_to_frames
from tpsmm.model import TPSMM

__all__ = [
    "DriverAnalysis",
    "PairResult",
    "ReconstructionResult",
    "Settings",
    "analyse_driver",
    "animate_pair",
    "evenly_spaced",
    "reconstruct_driver",
]


@dataclass(frozen=True)
class Settings:
    """What ``tpsmm benchmark-faces`` measures on (see the CLI for each option)."""

    analysis_size: int = 256
    batch_size: int = 8
    identity_frames: int = 8
    min_frames: int = MIN_FRAMES
    min_ceiling: float = MIN_CEILING
    grid_times: int = 6


def evenly_spaced(count: int, wanted: int) -> np.ndarray:
    """``wanted`` frame numbers spread evenly over ``count`` (first and last included;
    all of them when ``wanted >= count``), (N,) int, sorted and distinct."""
    if wanted <= 0 or count <= 0:
        return np.zeros(0, dtype=np.int64)
    if wanted >= count:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, wanted)).astype(np.int64))


@dataclass
class FaceTrack:
    """dlib's findings in a sequence of frames at the analysis size.

    Attributes:
        points: one :class:`FramePoints` per frame (embeddings on the identity frames).
        signals: (T, 5) the signals of :mod:`.face_signals`, NaN where no face.
    """

    points: list[FramePoints]
    signals: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.signals = signal_series([self.landmarks(t) for t in range(len(self.points))])

    def landmarks(self, index: int) -> np.ndarray | None:
        """The (68, 2) landmarks of frame ``index``, None without a face."""
        found = self.points[index]
        return found.points if found.found else None

    @property
    def found(self) -> np.ndarray:
        """(T,) bool: a face in each frame."""
        return np.array([found.found for found in self.points], dtype=bool)


def analyse(evaluator: Evaluator, frames: Sequence[np.ndarray], embed: np.ndarray) -> FaceTrack:
    """Landmarks of (A, A, 3) uint8 frames, with embeddings where ``embed`` (T,) is True."""
    extractor = evaluator.extractor
    assert extractor is not None
    return FaceTrack(
        [extractor(frame, embedding=bool(flag)) for frame, flag in zip(frames, embed, strict=True)]
    )


def to_analysis(frames: np.ndarray, size: int) -> list[np.ndarray]:
    """(B, S, S, 3) results (float in [0, 1] or uint8) -> uint8 frames at ``size``, as a
    saved video's frames would be (rounded to uint8 first)."""
    return [fit_frame(to_uint8(frame), size) for frame in frames]


def identity_mask(count: int, wanted: int) -> np.ndarray:
    """(count,) bool: the :func:`evenly_spaced` identity frames."""
    mask = np.zeros(count, dtype=bool)
    mask[evenly_spaced(count, wanted)] = True
    return mask


def correlations(driving: np.ndarray, result: np.ndarray, min_frames: int) -> dict[str, Any]:
    """Per signal: r (None when too few frames), the frames used, whether constant."""
    values = {}
    for column, name in enumerate(SIGNALS):
        measured = correlation(driving[:, column], result[:, column], min_frames)
        values[name] = {"r": measured.r, "frames": measured.frames, "constant": measured.constant}
    return values


@dataclass
class DriverAnalysis:
    """The work done once per driving video: its landmarks (and, on the identity frames,
    embeddings), the ceiling track and the model's keypoints of its frames."""

    video: DrivingVideo
    track: FaceTrack
    ceiling: FaceTrack
    keypoints: Tensor


@torch.inference_mode()
def analyse_driver(
    model: TPSMM, video: DrivingVideo, evaluator: Evaluator, settings: Settings
) -> DriverAnalysis:
    """Analyse one driving video (see :class:`DriverAnalysis`)."""
    count = len(video.frames)
    embed = identity_mask(count, settings.identity_frames)
    track = analyse(evaluator, list(video.analysis), embed)
    # the ceiling's first frame is also the no-motion baseline of the reconstruction
    ceiling_embed = np.zeros(count, dtype=bool)
    ceiling_embed[0] = settings.identity_frames > 0
    ceiling = analyse(evaluator, to_analysis(video.frames, settings.analysis_size), ceiling_embed)
    device = next(model.parameters()).device
    keypoints = []
    for start in range(0, count, settings.batch_size):
        batch = frames_to_tensor(video.frames[start : start + settings.batch_size], device)
        keypoints.append(model.keypoints(batch))
    return DriverAnalysis(video, track, ceiling, torch.cat(keypoints))


@dataclass
class Animation:
    """A model's results for one sequence: frames at the model's size, per-frame folding
    (NaN without a face region) and the frames kept for the picture grid."""

    frames: np.ndarray
    folding: np.ndarray
    grid: np.ndarray


@torch.inference_mode()
def _run(
    animator: Animator,
    driver: DriverAnalysis,
    background: bool,
    batch_size: int,
) -> tuple[np.ndarray, list[Tensor]]:
    """Animate ``animator``'s source by every kept frame of ``driver``, as
    :meth:`Animator.animate_keypoints` does, keeping the deformation."""
    model = animator.model
    animator.reset()
    frames, determinants = [], []
    for start in range(0, len(driver.video.frames), batch_size):
        kp = animator.driving_keypoints(driver.keypoints[start : start + batch_size])
        bg_param = None
        if background:
            driving = frames_to_tensor(
                driver.video.frames[start : start + batch_size], animator.device, animator.dtype
            )
            image = animator.state.image.expand(len(driving), -1, -1, -1)
            bg_param = model.background(image, driving)
        motion = model.motion_from_source(animator.state, kp, bg_param)
        frames.append(tensor_to_frames(model.generate_from_motion(animator.state, motion)))
        deformation = motion["deformation"]
        assert isinstance(deformation, Tensor)
        determinants.append(jacobian_determinant(deformation.float()))
    return np.concatenate(frames), determinants


def _folding(
    determinants: list[Tensor], regions: Callable[[int], np.ndarray | None], size: int
) -> np.ndarray:
    """(T,) folded share of each frame's face cells (NaN without a region)."""
    values = []
    index = 0
    for batch in determinants:
        for determinant in batch.numpy():
            points = regions(index)
            share = None
            if points is not None:
                cells = (determinant.shape[0] + 1, determinant.shape[1] + 1)
                share = folded_share(determinant, hull_mask(points, size, cells))
            values.append(math.nan if share is None else share)
            index += 1
    return np.array(values, dtype=np.float64)


def _animation(
    animator: Animator,
    driver: DriverAnalysis,
    background: bool,
    settings: Settings,
    region: Callable[[FaceTrack, int], np.ndarray | None],
    evaluator: Evaluator,
) -> tuple[Animation, FaceTrack]:
    frames, determinants = _run(animator, driver, background, settings.batch_size)
    count = len(frames)
    track = analyse(
        evaluator,
        to_analysis(frames, settings.analysis_size),
        identity_mask(count, settings.identity_frames),
    )
    folding = _folding(determinants, lambda t: region(track, t), settings.analysis_size)
    grid = to_uint8(frames[evenly_spaced(count, settings.grid_times)])
    return Animation(frames, folding, grid), track


def folding_summary(folding: np.ndarray) -> dict[str, Any]:
    """Mean and worst frame of per-frame folded shares (NaN: no face region)."""
    measured = np.flatnonzero(np.isfinite(folding))
    if not measured.size:
        return {"mean": None, "worst": None, "worst_frame": None, "frames": 0}
    worst = int(measured[np.argmax(folding[measured])])
    return {
        "mean": float(folding[measured].mean()),
        "worst": float(folding[worst]),
        "worst_frame": worst,
        "frames": int(measured.size),
    }


@dataclass
class ReconstructionResult:
    """One video's reconstruction: the totals of the model and of the no-motion
    baseline, the signals' correlations, folding and the grid's frames."""

    name: str
    model: MetricTotals
    still: MetricTotals
    correlations: dict[str, Any]
    folding: dict[str, Any]
    grid: np.ndarray


def reconstruct_driver(
    model: TPSMM, driver: DriverAnalysis, evaluator: Evaluator, settings: Settings
) -> ReconstructionResult:
    """The reconstruction protocol on one analysed video (see the module doc)."""
    video = driver.video
    animator = Animator(model, video.frames[0], "standard")
    background = model.bg_predictor is not None
    animation, track = _animation(
        animator, driver, background, settings, lambda _, t: driver.track.landmarks(t), evaluator
    )
    totals, still = MetricTotals(), MetricTotals()
    totals.add_l1(l1_distance(animation.frames, video.frames))
    still.add_l1(l1_distance(np.repeat(video.frames[:1], len(video.frames), 0), video.frames))
    baseline = driver.ceiling.points[0]
    for reference, generated in zip(driver.track.points, track.points, strict=True):
        totals.add_keypoints(generated, reference)
        totals.add_identity(generated, reference)
        still.add_keypoints(baseline, reference)
        still.add_identity(baseline, reference)
    return ReconstructionResult(
        video.name,
        totals,
        still,
        correlations(driver.track.signals, track.signals, settings.min_frames),
        folding_summary(animation.folding),
        animation.grid,
    )


@dataclass
class PairResult:
    """One source animated by one video (relative mode)."""

    source: str
    video: str
    frames: int
    correlations: dict[str, Any]
    identity_distance: float | None
    identity_frames: int
    faces_found: int
    folding: dict[str, Any]
    grid: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        """The report's entry (without the grid's frames)."""
        return {
            "source": self.source,
            "video": self.video,
            "frames": self.frames,
            "r": {name: value["r"] for name, value in self.correlations.items()},
            "r_frames": {name: value["frames"] for name, value in self.correlations.items()},
            "constant": [name for name, value in self.correlations.items() if value["constant"]],
            "identity_distance": self.identity_distance,
            "identity_frames": self.identity_frames,
            "face_found": self.faces_found / self.frames,
            "folding": self.folding,
        }


def animate_pair(
    animator: Animator,
    source: SourceImage,
    source_points: FramePoints,
    driver: DriverAnalysis,
    evaluator: Evaluator,
    settings: Settings,
) -> PairResult:
    """Animate ``source`` (its :class:`Animator` and its analysis) by one video."""

    def region(track: FaceTrack, index: int) -> np.ndarray | None:
        found = track.landmarks(index)
        if found is None and source_points.found:
            return source_points.points
        return found

    animation, track = _animation(animator, driver, False, settings, region, evaluator)
    distances = [
        embedding_distance(found.embedding, source_points.embedding)
        for found in track.points
        if found.embedding is not None and source_points.embedding is not None
    ]
    return PairResult(
        source=source.name,
        video=driver.video.name,
        frames=len(animation.frames),
        correlations=correlations(driver.track.signals, track.signals, settings.min_frames),
        identity_distance=float(np.mean(distances)) if distances else None,
        identity_frames=len(distances),
        faces_found=int(track.found.sum()),
        folding=folding_summary(animation.folding),
        grid=animation.grid,
    )


def ceiling_correlations(driver: DriverAnalysis, settings: Settings) -> dict[str, Any]:
    """The signals of a video against its own frames at the model's size."""
    return correlations(driver.track.signals, driver.ceiling.signals, settings.min_frames)
