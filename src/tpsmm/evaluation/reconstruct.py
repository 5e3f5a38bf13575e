"""Video reconstruction, the paper's evaluation protocol (``tpsmm reconstruct``).

For each test video the first frame is the source and every frame (the first included)
is a driving frame: keypoints of the driving frame, the background predictor on when the
model has one (``bg_param = bg(source, driving)``), the frame generated from the source,
and its L1 distance to the driving frame, ``mean |prediction - driving|`` over channels
and pixels, in [0, 1]. The source's keypoints and features are computed once per video
(:meth:`tpsmm.model.TPSMM.prepare_source`); driving frames go through in batches.

Outputs in ``out_dir``:

* ``png/<video name>.png``: the driving frames (top row) over the reconstructions (bottom
  row), left to right in time;
* ``report.json``: per-video L1 and frame count, ``mean_l1`` (over all frames of all
  videos, the number the authors print), ``video_mean_l1`` (mean of the per-video
  values), the config name, the checkpoint path and the frame count; with an
  ``evaluator`` (``tpsmm reconstruct --metrics``) also ``metrics``, the report of
  :func:`tpsmm.evaluation.evaluate` (L1, AKD, MKR and AED of the reconstructions
  against the driving frames, per video and overall) for the same videos.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from tpsmm.errors import DatasetError
from tpsmm.evaluation.compare import Evaluator
from tpsmm.evaluation.metrics import MetricTotals
from tpsmm.files import atomic_path
from tpsmm.media import save_image, to_uint8
from tpsmm.model import TPSMM
from tpsmm.signals import ignore_in_worker

__all__ = ["REPORT_NAME", "reconstruct", "reconstruct_video"]

REPORT_NAME = "report.json"


@torch.no_grad()
def reconstruct_video(model: TPSMM, video: Tensor, batch_size: int = 16) -> tuple[Tensor, Tensor]:
    """Reconstruct one video from its first frame.

    Args:
        model: the networks (put in eval mode by the caller).
        video: (3, T, H, W) float in [0, 1].
        batch_size: driving frames per forward pass.

    Returns:
        ``(predictions (T, 3, H, W) in [0, 1] on the CPU, per-frame L1 (T,) float64)``.
    """
    device = next(model.parameters()).device
    frames = video.permute(1, 0, 2, 3)
    source = frames[:1].to(device)
    state = model.prepare_source(source)
    predictions, losses = [], []
    for start in range(0, frames.shape[0], batch_size):
        driving = frames[start : start + batch_size].to(device)
        kp_driving = model.keypoints(driving)
        bg_param = None
        if model.bg_predictor is not None:
            bg_param = model.background(source.expand_as(driving), driving)
        prediction = model.generate_from_source(state, kp_driving, bg_param)
        losses.append((prediction - driving).abs().mean(dim=(1, 2, 3)).double().cpu())
        predictions.append(prediction.float().cpu())
    return torch.cat(predictions), torch.cat(losses)


def _frames(frames: Tensor) -> np.ndarray:
    """(T, 3, H, W) in [0, 1] -> (T, H, W, 3) float32 numpy."""
    return np.ascontiguousarray(frames.detach().float().cpu().permute(0, 2, 3, 1).numpy())


def _strip(driving: np.ndarray, prediction: np.ndarray) -> np.ndarray:
    """(2H, T*W, 3) uint8: driving frames over their reconstructions."""
    rows = [np.concatenate(list(to_uint8(frames)), axis=1) for frames in (driving, prediction)]
    return np.concatenate(rows, axis=0)


def _items(dataset: Dataset, workers: int) -> Iterable[Mapping[str, Any]]:
    """The dataset's items, loaded ahead by ``workers`` processes when > 0."""
    if workers <= 0:
        for index in range(len(dataset)):  # type: ignore[arg-type]
            yield dataset[index]
        return
    loader = DataLoader(
        dataset, batch_size=None, num_workers=workers, worker_init_fn=ignore_in_worker
    )
    yield from loader


def reconstruct(
    model: TPSMM,
    dataset: Dataset,
    out_dir: str | os.PathLike,
    batch_size: int = 16,
    *,
    max_videos: int | None = None,
    checkpoint: str | os.PathLike | None = None,
    save_images: bool = True,
    workers: int = 0,
    progress: bool = True,
    evaluator: Evaluator | None = None,
) -> dict[str, Any]:
    """Reconstruct every test video and write the report (see the module doc).

    Args:
        model: the networks, on the device to use (set to eval mode here).
        dataset: test items ``{'video': (3, T, H, W) in [0, 1], 'name': str}``
            (``build_dataset(..., is_train=False)``).
        out_dir: where ``report.json`` and ``png/`` go (created).
        batch_size: driving frames per forward pass.
        max_videos: only the first N videos.
        checkpoint: recorded in the report.
        save_images: write the PNG strips.
        workers: processes loading videos ahead (0: in this process).
        progress: show a progress bar.
        evaluator: also measure its metrics of every reconstruction against the driving
            frames (the report's ``metrics``).

    Returns:
        The report dict (as written to ``report.json``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if save_images:
        (out / "png").mkdir(exist_ok=True)
    if max_videos is not None:
        dataset = Subset(dataset, range(min(max_videos, len(dataset))))  # type: ignore[arg-type]
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise DatasetError("no test videos to reconstruct")
    model.eval()
    videos: list[dict[str, Any]] = []
    all_losses: list[Tensor] = []
    loss_sum, frame_count = 0.0, 0
    metric_videos: dict[str, Any] = {}
    metric_totals = MetricTotals()
    bar = tqdm(total=len(dataset), desc="reconstruct", disable=not progress, unit="video")  # type: ignore[arg-type]
    try:
        for item in _items(dataset, workers):
            video, name = item["video"], str(item["name"])
            predictions, losses = reconstruct_video(model, video, batch_size)
            entry: dict[str, Any] = {
                "name": name,
                "frames": int(losses.numel()),
                "l1": float(losses.mean()),
            }
            driving, generated = _frames(video.permute(1, 0, 2, 3)), _frames(predictions)
            if save_images:
                image = Path("png") / f"{name}.png"
                save_image(out / image, _strip(driving, generated))
                entry["image"] = str(image)
            if evaluator is not None:
                measured = evaluator.video()
                measured.add(list(generated), list(driving))
                metric_videos[name] = measured.summary()
                metric_totals = metric_totals.merge(measured.totals)
            videos.append(entry)
            all_losses.append(losses)
            loss_sum, frame_count = loss_sum + float(losses.sum()), frame_count + losses.numel()
            bar.update(1)
            bar.set_postfix(l1=f"{loss_sum / frame_count:.4f}", refresh=False)
    finally:
        bar.close()
    frames = torch.cat(all_losses)
    report = {
        "config": model.config.name,
        "checkpoint": str(checkpoint) if checkpoint is not None else None,
        "num_videos": len(videos),
        "num_frames": int(frames.numel()),
        "mean_l1": float(frames.mean()),
        "video_mean_l1": float(np.mean([v["l1"] for v in videos])),
        "background_predictor": model.bg_predictor is not None,
        "videos": videos,
    }
    if evaluator is not None:
        report["metrics"] = evaluator.describe() | {
            "overall": evaluator.summarize(metric_totals) | {"videos": len(metric_videos)},
            "videos": metric_videos,
        }
    with atomic_path(out / REPORT_NAME) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    return report
