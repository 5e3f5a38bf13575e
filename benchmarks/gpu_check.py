"""The figures of the GPU check (run by ``benchmarks/gpu_check.sh``): animation speed per
precision and batch size, and a few training steps in bfloat16.

Animation: the vox-256 architecture (the reference weights of
``tests/reference/make_reference_weights.py``, or ``--checkpoint``) animates the bundled
driving video's first ``--frames`` frames (256x256) in relative mode, for each precision
(loaded as ``tpsmm animate --dtype`` loads it: :func:`tpsmm.load_animation_model`) and
batch size: frames per second (after one warm-up batch; the device synchronised before
the clock stops), peak device memory, and the largest and mean difference of the uint8
frames from float32's at the same batch size.

Training: ``tpsmm train --config CONFIG --precision PRECISION --max-steps N`` on a small
dataset made of the bundled video (random VGG-19: the speed does not depend on its
values): exit status, wall seconds (start-up included) and the last lines it printed.

Writes ``gpu-check.json`` and ``gpu-check.md`` under ``--out``.

    PYTHONPATH=src python benchmarks/gpu_check.py --device cuda --out "$OUT"
    PYTHONPATH=src python benchmarks/gpu_check.py --device cpu --frames 4 \
        --batch-sizes 1 2 --dtypes float32 bfloat16 --train-steps 1 --train-batch 2
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

import tpsmm
from tpsmm.media import fit_frames, load_image, read_video, to_uint8

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "src" / "tpsmm" / "assets"
sys.path.insert(0, str(REPO / "tests"))
from reference_weights import reference_weights  # noqa: E402  (after the path is set)

CLI = "import sys, tpsmm.cli; sys.exit(tpsmm.cli.main())"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def animation_rows(args: argparse.Namespace, checkpoint: Path) -> list[dict[str, Any]]:
    """One row per (dtype, batch size): frames/s, peak memory, difference from float32."""
    frames = fit_frames(read_video(ASSETS / "driving.mp4")[: args.frames], 256)
    source = fit_frames(load_image(ASSETS / "source.png")[None], 256)[0]
    rows, first = [], {}
    for dtype in args.dtypes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # reduced precision emulated on a CPU: said once
            model = tpsmm.load_animation_model(checkpoint, device=args.device, dtype=dtype)
        device = next(model.parameters()).device
        for batch in args.batch_sizes:
            animator = tpsmm.Animator(model, source)
            animator.animate(frames[:batch])  # warm-up (kernels chosen, memory reserved)
            animator.reset()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            synchronize(device)
            started = time.perf_counter()
            out = [animator.animate(frames[i : i + batch]) for i in range(0, len(frames), batch)]
            synchronize(device)
            seconds = time.perf_counter() - started
            result = to_uint8(np.concatenate(out)).astype(np.int16)
            first.setdefault(batch, result)
            diff = np.abs(result - first[batch])
            rows.append(
                {
                    "dtype": dtype,
                    "batch": batch,
                    "frames": len(frames),
                    "seconds": round(seconds, 4),
                    "fps": round(len(frames) / seconds, 2),
                    "peak_mib": round(torch.cuda.max_memory_allocated(device) / 2**20)
                    if device.type == "cuda"
                    else None,
                    "max_diff_vs_first_dtype": int(diff.max()),
                    "mean_diff_vs_first_dtype": round(float(diff.mean()), 4),
                }
            )
            print(f"animate {dtype} batch {batch}: {rows[-1]['fps']} frames/s", flush=True)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return rows


def training_row(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """``tpsmm train --precision`` for a few steps on copies of the bundled video."""
    data = work / "data"
    for split, count in (("train", 2), ("test", 1)):
        (data / split).mkdir(parents=True, exist_ok=True)
        for number in range(count):
            shutil.copy(ASSETS / "driving.mp4", data / split / f"{split}{number}.mp4")
    command = [
        sys.executable, "-c", CLI, "train", "--config", args.train_config, "--data", str(data),
        "--out", str(work / "run"), "--max-steps", str(args.train_steps),
        "--batch-size", str(args.train_batch), "--precision", args.train_precision,
        "--no-pretrained-vgg", "--device", args.device, "--no-progress",
    ]  # fmt: skip
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    tail = (done.stdout + done.stderr).strip().splitlines()[-6:]
    print(f"train {args.train_precision}: status {done.returncode} in {seconds:.1f} s", flush=True)
    return {
        "config": args.train_config,
        "precision": args.train_precision,
        "steps": args.train_steps,
        "batch": args.train_batch,
        "status": done.returncode,
        "seconds_with_startup": round(seconds, 1),
        "output_tail": tail,
    }


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# GPU check: {report['device_name']}", "", f"torch {report['torch']}", ""]
    lines += ["| dtype | batch | frames/s | peak MiB | max / mean diff vs first dtype |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for row in report["animation"]:
        lines.append(
            f"| {row['dtype']} | {row['batch']} | {row['fps']} | {row['peak_mib']} | "
            f"{row['max_diff_vs_first_dtype']} / {row['mean_diff_vs_first_dtype']} |"
        )
    train = report.get("training")
    if train:
        lines += ["", f"train ({train['config']}, {train['precision']}, {train['steps']} steps, "
                  f"batch {train['batch']}): status {train['status']}, "
                  f"{train['seconds_with_startup']} s with start-up", ""]  # fmt: skip
        lines += ["    " + line for line in train["output_tail"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "gpu-check")
    parser.add_argument("--checkpoint", type=Path, help="default: the reference weights")
    parser.add_argument("--frames", type=int, default=64)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16", "float16"])
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-config", default="vox-256")
    parser.add_argument("--train-precision", default="bf16")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    device = torch.device(args.device)
    report: dict[str, Any] = {
        "device": args.device,
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "tpsmm": tpsmm.__version__,
    }
    checkpoint = args.checkpoint or reference_weights()[0]
    report["animation"] = animation_rows(args, checkpoint)
    if args.train_steps > 0:
        report["training"] = training_row(args, args.out / "train-work")
        shutil.rmtree(args.out / "train-work", ignore_errors=True)
    (args.out / "gpu-check.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / "gpu-check.md").write_text(markdown(report))
    print(markdown(report))
    return 1 if report.get("training", {}).get("status", 0) != 0 else 0


if __name__ == "__main__":
    sys.exit(main())
