"""Frames above the model's size against ground truth (``--resolution``, issue 24).

Reconstruction (the source is a clip's first frame, every frame drives it, standard mode,
the background predictor on when the model has one), the model at its own size S, the
result at the clip's size N by three methods:

* ``bicubic``: the model's frame (uint8) resized to N (Pillow's bicubic filter: what
  ``--paste-back`` did);
* ``highres``: :func:`tpsmm.highres.render` (``Animator(..., resolution=N)``);
* ``true warp`` (synthetic clips only): the first frame at N warped by the true
  deformation where the motion is known (``valid``: visible in the first frame), the
  bicubic frame elsewhere: the upper bound of moving the source.

Clips: synthetic videos of known motion (``tpsmm synth --size N --images heldout``,
made under ``--data`` when missing) at each ``--sizes``; real faces (``--faces``: folders
of clips, e.g. ``tpsmm prepare-videos --kind face --size 512`` of held-out identities);
the bundled sample video at its own size (410 x 410, centre crop).

Per frame (the first frame, the source itself, left out): L1 (mean absolute difference,
[0, 1]) over every pixel and, on synthetic clips, over the pixels whose motion is known
(``valid``); PSNR; sharpness (the result's gradient energy, the sum of squared
differences of neighbouring pixels, over the true frame's). Per clip: flicker (the mean
absolute change between consecutive frames of the result over that of the true frames)
and the temporal L1 (the mean absolute difference of the two changes). Tables give the
medians over frames (over clips for the per-clip figures). With ``--variants``, the
renderer's choices (the split, the masks, the colour handling, the deformation's and
the source's sampling, the coordinates) on the first size and the faces.

    python benchmarks/highres_quality.py --out build/highres-quality --variants

writes ``table.md`` (the tables of benchmarks/RESULTS.md), ``report.json`` and still
grids (``grid-*.png``: true | bicubic | highres).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

import tpsmm
from tpsmm import geometry, highres
from tpsmm.animation.animator import Animator, ModelFrames
from tpsmm.media import fit_frames, read_video, to_uint8
from tpsmm.media.tensors import frames_to_tensor
from tpsmm.synthetic import read_ground_truth
from tpsmm.synthetic.render import GroundTruth

SAMPLE_VIDEO = Path(tpsmm.__file__).parent / "assets" / "driving.mp4"
METHODS = ("bicubic", "highres", "true warp")


# The renderer's alternatives (--variants) ----------------------------------------------


def variant(
    target: dict[str, torch.Tensor],
    model_source: torch.Tensor,
    made: ModelFrames,
    *,
    flow: str = "bilinear",
    sampling: str = "bicubic",
    split: str = "model warp",
    mask: str = "as is",
    detail: str = "rgb",
    coordinates: str = "frame",
) -> torch.Tensor:
    """:func:`tpsmm.highres.render` with one choice changed (the defaults are its own)."""
    size = made.frames.shape[-1]
    points = target["points"].expand(len(made.frames), -1, -1, -1)
    if coordinates == "frame":
        model_points = highres.to_model_coordinates(points, size)
    else:  # align_corners=True at every resolution: the output's corners on the model's
        count = points.shape[2]
        points = geometry.coordinate_grid(count, count).unsqueeze(0).expand_as(points)
        model_points = points
    if flow == "bilinear":
        moved = highres.upsample_deformation(made.deformation, points, size)
    else:
        extended = highres.extend_linearly(made.deformation.permute(0, 3, 1, 2))
        small = made.deformation.shape[1]
        field = highres.sample_model_map(extended, model_points * (small - 1) / (small + 1), flow)
        moved = highres.to_frame_coordinates(field.permute(0, 2, 3, 1), size)
    if coordinates == "frame":
        warped_full, coverage = highres.sample_source(
            target["source"], moved, target["source_box"], sampling
        )
    else:
        source = target["source"].expand(len(moved), -1, -1, -1)
        moved = highres.to_model_coordinates(moved, size)
        warped_full = F.grid_sample(source, moved, sampling, "border", align_corners=True)
        coverage = F.grid_sample(
            torch.ones_like(source[:, :1]), moved, "bilinear", "zeros", align_corners=True
        )
    warped_model = geometry.warp(
        model_source.expand(len(moved), -1, -1, -1), made.deformation, padding_mode="border"
    )
    upsampled = highres.sample_model_map(made.frames, model_points, "bicubic")
    if split == "model warp":
        low = highres.sample_model_map(warped_model, model_points, "bicubic")
    else:  # the warped source through the model's size and back: area down, bicubic up
        down = F.interpolate(warped_full, size=(size, size), mode="area")
        low = highres.sample_model_map(down, model_points, "bicubic")
    visible = highres.sample_model_map(made.occlusion, model_points) * coverage
    if mask == "hard":
        visible = (visible > 0.5).to(visible.dtype)
    elif mask == "squared":
        visible = visible * visible
    elif mask == "everywhere":
        visible = coverage
    added = warped_full - low
    if detail == "luma":
        weights = added.new_tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        added = (added * weights).sum(dim=1, keepdim=True).expand_as(added)
    return (upsampled + visible * added).clamp(0, 1)


VARIANTS: dict[str, dict[str, str]] = {
    "chosen (bilinear deformation, bicubic source, split by the model's warp, mask as is, RGB)": {},
    "split by area-down/bicubic-up of the warped source": {"split": "area"},
    "mask hard (> 0.5)": {"mask": "hard"},
    "mask squared": {"mask": "squared"},
    "detail everywhere (no mask)": {"mask": "everywhere"},
    "detail of luma only": {"detail": "luma"},
    "deformation bicubic": {"flow": "bicubic"},
    "source bilinear": {"sampling": "bilinear"},
    "coordinates align_corners=True at N": {"coordinates": "corners"},
}


# Metrics -------------------------------------------------------------------------------


def gradient_energy(frame: np.ndarray) -> float:
    """Sum of squared differences of horizontally and vertically neighbouring pixels of
    an (H, W, 3) float image."""
    return float((np.diff(frame, axis=0) ** 2).sum() + (np.diff(frame, axis=1) ** 2).sum())


def frame_metrics(result: np.ndarray, truth: np.ndarray, valid: np.ndarray | None) -> dict:
    """L1, L1 where the motion is known, PSNR and sharpness of one (H, W, 3) frame."""
    error = np.abs(result - truth)
    mse = float((error**2).mean())
    metrics = {
        "l1": float(error.mean()),
        "psnr": 10 * np.log10(1 / max(mse, 1e-12)),
        "sharpness": gradient_energy(result) / max(gradient_energy(truth), 1e-12),
    }
    if valid is not None and valid.any():
        metrics["l1 valid"] = float(error[valid].mean())
    return metrics


def clip_metrics(results: np.ndarray, truths: np.ndarray) -> dict:
    """Flicker and temporal L1 of (T, H, W, 3) results against the true frames."""
    changes = np.abs(np.diff(results, axis=0)).mean()
    true_changes = np.abs(np.diff(truths, axis=0)).mean()
    temporal = np.abs(np.diff(results, axis=0) - np.diff(truths, axis=0)).mean()
    return {"flicker": float(changes / max(true_changes, 1e-12)), "temporal l1": float(temporal)}


# Clips ---------------------------------------------------------------------------------


def as_float(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) / 255


def renders(
    model: tpsmm.TPSMM,
    frames: np.ndarray,
    truth: GroundTruth | None,
    variants: dict[str, dict[str, str]],
    batch_size: int,
) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(frame index, method -> (H, W, 3) uint8 result) for every frame of a clip."""
    size = frames.shape[1]
    model_size = model.frame_size
    animator = Animator(
        model, frames[0], "standard", background=model.bg_predictor is not None, resolution=size
    )
    target = {key: value for key, value in animator.render_inputs.items()}
    model_source = animator.state.image.float()
    source = frames_to_tensor(frames[:1])
    for start in range(0, len(frames), batch_size):
        batch = frames[start : start + batch_size]
        driving = frames_to_tensor(fit_frames(batch, model_size, "stretch"))
        with torch.inference_mode():
            made = animator.model_frames(animator.detect(fit_frames(batch, model_size)), driving)
            results = {
                "bicubic": fit_frames(to_uint8(made.frames.permute(0, 2, 3, 1).numpy()), size),
                "highres": animator.render(made),
            }
            for name, changes in variants.items():
                results[name] = variant(target, model_source, made, **changes)
            if truth is not None:
                grid = torch.from_numpy(truth.deformation[start : start + batch_size])
                warped = F.grid_sample(
                    source.expand(len(grid), -1, -1, -1), grid, align_corners=True
                )
                valid = torch.from_numpy(truth.valid[start : start + batch_size])[:, None]
                bicubic = frames_to_tensor(results["bicubic"])
                results["true warp"] = torch.where(valid, warped, bicubic)
        for name, value in results.items():
            if isinstance(value, torch.Tensor):
                results[name] = to_uint8(value.permute(0, 2, 3, 1).numpy())
        for offset in range(len(batch)):
            yield start + offset, {name: value[offset] for name, value in results.items()}


def evaluate_clip(
    model: tpsmm.TPSMM,
    frames: np.ndarray,
    truth: GroundTruth | None,
    variants: dict[str, dict[str, str]],
    batch_size: int,
    grid_frame: int | None = None,
) -> tuple[dict[str, dict[str, list[float]]], dict[str, np.ndarray]]:
    """Per-frame and per-clip metrics of every method on one clip (T, N, N, 3) uint8, and
    the results at ``grid_frame``."""
    collected: dict[str, list[np.ndarray]] = {}
    per_frame: dict[str, dict[str, list[float]]] = {}
    still: dict[str, np.ndarray] = {}
    for index, results in renders(model, frames, truth, variants, batch_size):
        for name, result in results.items():
            collected.setdefault(name, []).append(result)
            if index == grid_frame:
                still[name] = result
            if index == 0:
                continue
            valid = truth.valid[index] if truth is not None else None
            metrics = frame_metrics(as_float(result), as_float(frames[index]), valid)
            for key, value in metrics.items():
                per_frame.setdefault(name, {}).setdefault(key, []).append(value)
    for name, results in collected.items():
        for key, value in clip_metrics(as_float(np.stack(results)), as_float(frames)).items():
            per_frame[name].setdefault(key, []).append(value)
    if grid_frame is not None:
        still["true"] = frames[grid_frame]
    return per_frame, still


def synthetic_clips(data: Path, size: int, videos: int, frames: int) -> list[Path]:
    """The synthetic test clips at ``size`` (made with ``tpsmm synth`` when missing)."""
    root = data / f"synth-{size}-{videos}x{frames}"
    if not (root / "synth.json").is_file():
        command = [sys.executable, "-m", "tpsmm.cli", "synth", "--out", str(root)]
        command += ["--videos", str(videos), "--frames", str(frames), "--size", str(size)]
        command += ["--seed", "1", "--images", "heldout", "--test-fraction", "1", "--no-progress"]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return sorted(path for path in (root / "test").iterdir() if path.is_dir())


def sample_clip(max_frames: int) -> np.ndarray:
    """The bundled driving video, centre square at its own size."""
    frames = read_video(SAMPLE_VIDEO, max_frames)
    side = min(frames.shape[1:3])
    top, left = (frames.shape[1] - side) // 2, (frames.shape[2] - side) // 2
    return np.ascontiguousarray(frames[:, top : top + side, left : left + side])


# Tables --------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return float(np.median(values)) if values else float("nan")


def summarise(per_frame: dict[str, dict[str, list[float]]]) -> dict[str, dict[str, float]]:
    return {
        name: {key: median(values) for key, values in metrics.items()}
        for name, metrics in per_frame.items()
    }


def merge(total: dict, part: dict) -> None:
    for name, metrics in part.items():
        for key, values in metrics.items():
            total.setdefault(name, {}).setdefault(key, []).extend(values)


COLUMNS = ("l1", "l1 valid", "psnr", "sharpness", "flicker", "temporal l1")


def table(summary: dict[str, dict[str, float]], names: list[str]) -> list[str]:
    columns = [c for c in COLUMNS if any(c in summary.get(n, {}) for n in names)]
    reference = summary.get("bicubic", {}).get("l1")
    lines = ["| method | " + " | ".join(columns) + " | L1 / bicubic's |"]
    lines.append("|---" * (len(columns) + 2) + "|")
    for name in names:
        if name not in summary:
            continue
        row = summary[name]
        cells = [f"{row[c]:.4f}" if c in row else "" for c in columns]
        ratio = f"{row['l1'] / reference:.3f}" if reference else ""
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {ratio} |")
    return lines


def save_grid(path: Path, rows: list[dict[str, np.ndarray]], crop: int | None = None) -> None:
    """true | bicubic | highres, one row per clip (a centre crop of ``crop`` pixels)."""
    lines = []
    for still in rows:
        cells = [still[name] for name in ("true", "bicubic", "highres")]
        if crop is not None:
            size = cells[0].shape[0]
            top = (size - crop) // 2
            cells = [cell[top : top + crop, top : top + crop] for cell in cells]
        lines.append(np.concatenate(cells, axis=1))
    Image.fromarray(np.concatenate(lines, axis=0)).save(path)


# Main ----------------------------------------------------------------------------------


def run_set(
    title: str,
    clips: list[tuple[str, np.ndarray, object]],
    model: tpsmm.TPSMM,
    variants: dict[str, dict[str, str]],
    batch_size: int,
    out: Path,
    report: dict,
    lines: list[str],
) -> None:
    total: dict[str, dict[str, list[float]]] = {}
    stills = []
    started = time.perf_counter()
    for name, frames, truth in clips:
        per_frame, still = evaluate_clip(
            model, frames, truth, variants, batch_size, grid_frame=len(frames) // 2
        )
        merge(total, per_frame)
        stills.append(still)
        print(f"  {title}: {name} ({len(frames)} frames of {frames.shape[1]}px)", flush=True)
    summary = summarise(total)
    size = clips[0][1].shape[1]
    slug = title.lower().replace(" ", "-").replace(",", "")
    save_grid(out / f"grid-{slug}.png", stills)
    save_grid(out / f"grid-{slug}-crop.png", stills, crop=size // 3)
    report[title] = {"summary": summary, "clips": [c[0] for c in clips]}
    frames_count = sum(len(c[1]) - 1 for c in clips)
    lines += ["", f"### {title}", ""]
    lines.append(
        f"{len(clips)} clips, {frames_count} frames (the first of each left out), "
        f"{time.perf_counter() - started:.0f} s."
    )
    lines += ["", *table(summary, list(METHODS))]
    if variants:
        lines += ["", "The renderer's choices:", ""]
        lines += table(summary, ["bicubic", *variants])


SETS = ("synthetic", "faces", "sample")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="demo", help="the model (default: demo)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--videos", type=int, default=4, help="synthetic clips per size (4)")
    parser.add_argument("--frames", type=int, default=12, help="frames per synthetic clip (12)")
    parser.add_argument("--faces", type=Path, default=Path("build/faces-512-clips"))
    parser.add_argument("--face-frames", type=int, default=24, help="frames per face clip (24)")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--data", type=Path, default=Path("build/highres-data"))
    parser.add_argument("--out", type=Path, default=Path("build/highres-quality"))
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument(
        "--variants",
        nargs="*",
        metavar="WORD",
        help="also the renderer's choices (those whose name holds one of the WORDs, if any)",
    )
    parser.add_argument("--clips", type=int, help="at most this many face clips")
    args = parser.parse_args()
    chosen = {}
    if args.variants is not None:
        words = args.variants
        chosen = {
            name: changes
            for name, changes in VARIANTS.items()
            if not words or not changes or any(word in name for word in words)
        }
    args.out.mkdir(parents=True, exist_ok=True)
    args.data.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    model = tpsmm.load_model(args.checkpoint).eval()
    report: dict = {"checkpoint": args.checkpoint, "model size": model.frame_size}
    lines = [
        f"Model: {args.checkpoint} ({model.frame_size}x{model.frame_size}); "
        f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} at the start; "
        f"{time.strftime('%Y-%m-%d')}.",
        f"Command: `python benchmarks/highres_quality.py {' '.join(sys.argv[1:])}`",
    ]
    # (title, the clips' loader, variants): clips are read when their set runs.
    sets: list[tuple[str, Callable[[], list], dict]] = []
    if "synthetic" in args.sets:
        for index, size in enumerate(args.sizes):
            paths = synthetic_clips(args.data, size, args.videos, args.frames)
            load = lambda paths=paths: [  # noqa: E731
                (p.name, read_video(p), read_ground_truth(p)) for p in paths
            ]
            variants = chosen if index == 0 else {}
            sets.append((f"Synthetic, {size}", load, variants))
    if "faces" in args.sets and args.faces.is_dir():
        paths = sorted(p for p in args.faces.iterdir() if not p.name.startswith("."))
        paths = paths[: args.clips]
        size = read_video(paths[0], 1).shape[1] if paths else 0
        load = lambda paths=paths: [(p.name, read_video(p, args.face_frames), None) for p in paths]  # noqa: E731
        if paths:
            sets.append((f"Faces, {size}", load, chosen))
    if "sample" in args.sets:
        sample = sample_clip(args.face_frames * 2)
        sets.append(
            (f"Sample video, {sample.shape[1]}", lambda: [("driving.mp4", sample, None)], {})
        )
    for title, load, variants in sets:
        run_set(title, load(), model, variants, args.batch_size, args.out, report, lines)
        # Written after each set, so that a stopped run keeps what it measured.
        (args.out / "table.md").write_text("\n".join(lines) + "\n")
        (args.out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
