"""Motion benchmark on videos with known motion (``tpsmm benchmark-motion``).

The paper's reconstruction protocol (:mod:`tpsmm.evaluation.reconstruct`) on a dataset's
test videos: frame 0 is the source, every frame (frame 0 included) a driving frame, the
background predictor on when the model has one. Beside the reconstruction it measures
the predicted motion where the video carries ground truth (``tpsmm synth`` writes it;
see :mod:`tpsmm.synthetic.dataset`):

* ``l1``: mean |prediction - driving| over pixels and channels, values in [0, 1];
  ``l1_no_motion``: the same for the source frame as the prediction (a model that does
  not move anything);
* ``epe``: the end-point error of the predicted deformation against the true one, in
  pixels of the frame, averaged over the valid pixels (visible in frame 0) of every
  frame; the prediction (at the dense motion network's resolution) is first resized to
  the frame size bilinearly (align_corners=True), as the inpainting network resizes it to
  warp the source; ``epe_identity``: the same for the identity deformation (no motion).

* ``epe_object`` / ``epe_background`` (and their ``_identity`` baselines): the same EPE
  on the valid pixels the object covers (``alpha`` > 0.5 in the ground truth) and on the
  rest, so that a model's error can be told apart: the object's own motion, or the
  camera's;
* ``camera_epe``: the background predictor's matrix against the true camera map, as
  the end-point error of the points of the whole frame (in pixels), beside
  ``camera_epe_identity`` (the identity matrix's); None without a background predictor.

Ratios below 1 (``l1 / l1_no_motion``, ``epe / epe_identity``) mean the model explains
motion. Means over a dataset weight every frame (L1) or every valid pixel (EPE) equally.

Outputs in ``out_dir``: ``motion.json`` (per video and overall) and ``motion.png`` (a grid
of source, driving frame, prediction, predicted and true motion, for the last frame of
up to ``grid_videos`` videos; motion drawn as a colour wheel: hue = direction,
saturation = length, full saturation at the grid's largest true displacement).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor
from tqdm import tqdm

from tpsmm import geometry
from tpsmm.errors import DatasetError
from tpsmm.files import atomic_path
from tpsmm.model import TPSMM
from tpsmm.synthetic import GroundTruth, read_ground_truth

__all__ = [
    "GRID_NAME",
    "REPORT_NAME",
    "MotionResult",
    "benchmark_motion",
    "benchmark_video",
    "flow_to_rgb",
    "format_table",
]

REPORT_NAME = "motion.json"
GRID_NAME = "motion.png"
GRID_COLUMNS = ("source", "driving", "prediction", "predicted motion", "true motion")


@dataclass(frozen=True)
class MotionResult:
    """The figures of one video (``epe`` fields are None without ground truth, the
    ``camera`` ones also without a background predictor)."""

    name: str
    frames: int
    l1: float
    l1_no_motion: float
    epe: float | None
    epe_identity: float | None
    valid_pixels: int
    epe_object: float | None
    epe_object_identity: float | None
    object_pixels: int
    epe_background: float | None
    epe_background_identity: float | None
    camera_epe: float | None
    camera_epe_identity: float | None


#: The regions of :class:`MotionResult`'s EPE: every valid pixel, the object's, the rest.
REGIONS: tuple[str, ...] = ("all", "object", "background")


class _ErrorSums:
    """Running sums of a model's and a baseline's end-point errors and their count."""

    def __init__(self) -> None:
        self.model = self.baseline = 0.0
        self.count = 0

    def add(self, model: Tensor, baseline: Tensor, where: Tensor | None = None) -> None:
        """Add (N, ...) per-point errors at ``where`` (bool, the same shape; all: None)."""
        if where is not None:
            model, baseline = model[where], baseline[where]
        self.model += float(model.sum())
        self.baseline += float(baseline.sum())
        self.count += model.numel()

    def means(self) -> tuple[float | None, float | None]:
        """(model mean, baseline mean), or (None, None) without points."""
        if self.count == 0:
            return None, None
        return self.model / self.count, self.baseline / self.count


@dataclass(frozen=True)
class _Frames:
    """What the picture grid shows of one video: the last frame's tensors."""

    source: Tensor
    driving: Tensor
    prediction: Tensor
    predicted: Tensor
    truth: Tensor | None


@torch.no_grad()
def benchmark_video(
    model: TPSMM, video: Tensor, truth: GroundTruth | None, name: str, batch_size: int = 16
) -> tuple[MotionResult, _Frames]:
    """Reconstruct one video from its first frame and measure it.

    Args:
        model: the networks, in eval mode.
        video: (3, T, S, S) in [0, 1].
        truth: its ground truth, or None.
        name: the video's name, for the result.
        batch_size: driving frames per forward pass.
    """
    device = next(model.parameters()).device
    frames = video.permute(1, 0, 2, 3)
    num_frames, _, height, width = frames.shape
    if truth is not None and truth.deformation.shape[:3] != (num_frames, height, width):
        raise DatasetError(
            f"{name}: ground truth has shape {truth.deformation.shape[:3]} but the video "
            f"{(num_frames, height, width)}"
        )
    source = frames[:1].to(device)
    state = model.prepare_source(source)
    identity = geometry.coordinate_grid(height, width, dtype=torch.float64)
    pixels = (width - 1) / 2  # normalised units -> pixels (square frames)
    l1 = l1_still = 0.0
    errors = {region: _ErrorSums() for region in REGIONS}
    camera_errors = _ErrorSums()
    last: _Frames | None = None
    for start in range(0, num_frames, batch_size):
        driving = frames[start : start + batch_size].to(device)
        kp_driving = model.keypoints(driving)
        bg_param = None
        if model.bg_predictor is not None:
            bg_param = model.background(source.expand_as(driving), driving)
        motion = model.motion_from_source(state, kp_driving, bg_param)
        prediction = model.generate_from_motion(state, motion).float()
        deformation = motion["deformation"]
        assert isinstance(deformation, Tensor)
        predicted = geometry.resize_flow(deformation.float(), height, width).double().cpu()
        l1 += float((prediction - driving).abs().mean(dim=(1, 2, 3)).sum())
        l1_still += float((source - driving).abs().mean(dim=(1, 2, 3)).sum())
        true = None
        if truth is not None:
            stop = start + driving.shape[0]
            true = torch.from_numpy(truth.deformation[start:stop]).double()
            valid = torch.from_numpy(truth.valid[start:stop])
            on_object = torch.from_numpy(truth.alpha[start:stop] > 0.5)
            model_error = (predicted - true).norm(dim=-1) * pixels
            identity_error = (identity - true).norm(dim=-1) * pixels
            errors["all"].add(model_error, identity_error, valid)
            errors["object"].add(model_error, identity_error, valid & on_object)
            errors["background"].add(model_error, identity_error, valid & ~on_object)
            if bg_param is not None:
                camera = torch.from_numpy(truth.camera[start:stop]).double()
                grid = identity.expand(camera.shape[0], -1, -1, -1)
                true_points = geometry.apply_projective(camera, grid)
                predicted_points = geometry.apply_projective(bg_param.double().cpu(), grid)
                camera_errors.add(
                    (predicted_points - true_points).norm(dim=-1) * pixels,
                    (grid - true_points).norm(dim=-1) * pixels,
                )
        last = _Frames(
            source[0].cpu(),
            driving[-1].cpu(),
            prediction[-1].cpu(),
            predicted[-1] - identity,
            None if true is None else true[-1] - identity,
        )
    assert last is not None
    epe, epe_identity = errors["all"].means()
    epe_object, epe_object_identity = errors["object"].means()
    epe_background, epe_background_identity = errors["background"].means()
    camera_epe, camera_epe_identity = camera_errors.means()
    result = MotionResult(
        name=name,
        frames=num_frames,
        l1=l1 / num_frames,
        l1_no_motion=l1_still / num_frames,
        epe=epe,
        epe_identity=epe_identity,
        valid_pixels=errors["all"].count,
        epe_object=epe_object,
        epe_object_identity=epe_object_identity,
        object_pixels=errors["object"].count,
        epe_background=epe_background,
        epe_background_identity=epe_background_identity,
        camera_epe=camera_epe,
        camera_epe_identity=camera_epe_identity,
    )
    return result, last


def flow_to_rgb(displacement: Tensor, max_length: float) -> np.ndarray:
    """A displacement field (H, W, 2) in normalised units -> (H, W, 3) uint8 colours:
    hue = direction, saturation = length / ``max_length`` (clipped), value 1."""
    dx, dy = displacement[..., 0].numpy(), displacement[..., 1].numpy()
    hue = (np.arctan2(dy, dx) / (2 * np.pi)) % 1.0
    saturation = np.clip(np.hypot(dx, dy) / max(max_length, 1e-9), 0.0, 1.0)
    hsv = np.stack((hue, saturation, np.ones_like(hue)), -1)
    image = Image.fromarray((hsv * 255).round().astype(np.uint8), mode="HSV")
    return np.asarray(image.convert("RGB"))


def _image(frame: Tensor) -> np.ndarray:
    return (frame.clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def _grid(rows: list[tuple[str, _Frames]]) -> Image.Image:
    """The picture grid: one row per video, the columns of :data:`GRID_COLUMNS`."""
    size = rows[0][1].source.shape[-1]
    longest = max(
        float(frames.truth.norm(dim=-1).max()) if frames.truth is not None else 0.0
        for _, frames in rows
    )
    if longest == 0:
        longest = max(float(frames.predicted.norm(dim=-1).max()) for _, frames in rows)
    header = 14
    grid = Image.new("RGB", (size * len(GRID_COLUMNS), header + size * len(rows)), "white")
    draw = ImageDraw.Draw(grid)
    for column, title in enumerate(GRID_COLUMNS):
        draw.text((column * size + 2, 1), title, fill="black")
    for row, (_, frames) in enumerate(rows):
        cells = [
            _image(frames.source),
            _image(frames.driving),
            _image(frames.prediction),
            flow_to_rgb(frames.predicted, longest),
            None if frames.truth is None else flow_to_rgb(frames.truth, longest),
        ]
        for column, cell in enumerate(cells):
            if cell is not None:
                grid.paste(Image.fromarray(cell), (column * size, header + row * size))
    return grid


def _weighted_mean(pairs: list[tuple[float | None, int]]) -> float | None:
    """The mean of per-video means weighted by their counts (None where nothing counts)."""
    kept = [(value, count) for value, count in pairs if value is not None and count > 0]
    total = sum(count for _, count in kept)
    return sum(value * count for value, count in kept) / total if total else None


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def _overall(results: list[MotionResult]) -> dict[str, Any]:
    frames = sum(r.frames for r in results)
    with_truth = [r for r in results if r.epe is not None]
    overall: dict[str, Any] = {
        "videos": len(results),
        "frames": frames,
        "l1": sum(r.l1 * r.frames for r in results) / frames,
        "l1_no_motion": sum(r.l1_no_motion * r.frames for r in results) / frames,
        "videos_with_truth": len(with_truth),
    }
    counts = {
        "epe": lambda r: r.valid_pixels,
        "epe_object": lambda r: r.object_pixels,
        "epe_background": lambda r: r.valid_pixels - r.object_pixels,
        # every video's frames have the same number of points
        "camera_epe": lambda r: r.frames,
    }
    for field, count in counts.items():
        for key in (field, f"{field}_identity"):
            overall[key] = _weighted_mean([(getattr(r, key), count(r)) for r in with_truth])
    overall["l1_ratio"] = _ratio(overall["l1"], overall["l1_no_motion"])
    for field in counts:
        overall[f"{field}_ratio"] = _ratio(overall[field], overall[f"{field}_identity"])
    return overall


def benchmark_motion(
    model: TPSMM,
    dataset: Any,
    out_dir: str | os.PathLike,
    batch_size: int = 16,
    *,
    max_videos: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    grid_videos: int = 6,
    progress: bool = False,
) -> dict[str, Any]:
    """Benchmark every test video of ``dataset`` and write the report and the grid.

    Args:
        model: the networks, on the device to use (set to eval mode here).
        dataset: a test :class:`tpsmm.data.FramesDataset` (``build_dataset(...,
            is_train=False)``); ground truth is read from beside each of its videos.
        out_dir: where ``motion.json`` and ``motion.png`` go (created).
        batch_size: driving frames per forward pass.
        max_videos: only the first N videos.
        checkpoint: recorded in the report.
        grid_videos: videos in the picture grid (0: no grid).
        progress: show a progress bar.

    Returns:
        The report: ``{"config", "checkpoint", "background_predictor", "overall": {...},
        "videos": {name: {...}}}`` (the fields of :class:`MotionResult`; ``overall`` adds
        ``l1_ratio`` and ``epe_ratio``).
    """
    count = len(dataset) if max_videos is None else min(max_videos, len(dataset))
    if count == 0:
        raise DatasetError("no test videos to benchmark")
    model.eval()
    results: list[MotionResult] = []
    rows: list[tuple[str, _Frames]] = []
    for index in tqdm(range(count), desc="benchmark", unit="video", disable=not progress):
        item = dataset[index]
        name = str(item["name"])
        truth = read_ground_truth(dataset.videos[index])
        result, frames = benchmark_video(model, item["video"], truth, name, batch_size)
        results.append(result)
        if len(rows) < grid_videos:
            rows.append((name, frames))
    report = {
        "config": model.config.name,
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "background_predictor": model.bg_predictor is not None,
        "overall": _overall(results),
        "videos": {r.name: {k: v for k, v in asdict(r).items() if k != "name"} for r in results},
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / REPORT_NAME) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    if rows:
        with atomic_path(out / GRID_NAME) as tmp:
            _grid(rows).save(tmp, format="PNG")
    return report


def format_table(report: dict[str, Any]) -> str:
    """The report as a text table: one line per video, then the overall figures."""

    def number(value: float | None, digits: int) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [f"{'video':<20} {'frames':>6} {'L1':>8} {'L1 still':>8} {'EPE px':>8} {'EPE id':>8}"]
    for name, video in report["videos"].items():
        lines.append(
            f"{name:<20} {video['frames']:>6} {number(video['l1'], 4):>8} "
            f"{number(video['l1_no_motion'], 4):>8} {number(video['epe'], 2):>8} "
            f"{number(video['epe_identity'], 2):>8}"
        )
    overall = report["overall"]
    lines.append(
        f"{'overall':<20} {overall['frames']:>6} {number(overall['l1'], 4):>8} "
        f"{number(overall['l1_no_motion'], 4):>8} {number(overall['epe'], 2):>8} "
        f"{number(overall['epe_identity'], 2):>8}"
    )
    lines.append(
        f"ratios: L1 / L1 still {number(overall['l1_ratio'], 3)}, "
        f"EPE / EPE identity {number(overall['epe_ratio'], 3)}"
    )
    parts = {
        "epe_object": "object",
        "epe_background": "background",
        "camera_epe": "background predictor's camera (whole frame)",
    }
    for field, label in parts.items():
        if overall[field] is not None:
            lines.append(
                f"  {label}: EPE {number(overall[field], 2)} px, identity "
                f"{number(overall[f'{field}_identity'], 2)} px, "
                f"ratio {number(overall[f'{field}_ratio'], 3)}"
            )
    return "\n".join(lines)
