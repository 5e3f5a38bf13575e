"""Cost of frames above the model's size (``--resolution``): seconds per frame of the
model alone and with the renderer at each size, in one process, interleaved.

The bundled sample (source.png, 680 x 676, as ``tpsmm demo`` crops it; driving.mp4 fitted
to the model's size), relative mode, batch 1 (the CPU default), float32. Each variant
animates the same ``--frames`` frames ``--repeats`` times in turn; the table gives the
median seconds per frame, wall-clock and CPU time of the process (steadier on a shared
machine; run with ``OMP_NUM_THREADS=1`` there), and the renderer's share (with -
without). With ``--onnx
FOLDER`` (``tpsmm export``), the onnxruntime backend too.

    python benchmarks/highres_speed.py --sizes 512 1024
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

import tpsmm
from tpsmm.animation.animator import as_backend
from tpsmm.media import fit_frame, fit_frames, load_image, read_video

ASSETS = Path(tpsmm.__file__).parent / "assets"


def seconds_per_frame(animator, driving: np.ndarray) -> tuple[float, float]:
    """(wall-clock, CPU) seconds per frame: on a machine shared with other work the CPU
    time of this process is the steadier figure (with one thread, what an idle core
    would take)."""
    animator.reset()
    started, cpu = time.perf_counter(), time.process_time()
    for frame in driving:
        animator.animate(frame[None])
    count = len(driving)
    return (time.perf_counter() - started) / count, (time.process_time() - cpu) / count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", default="demo")
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--onnx", type=Path, help="an export folder of the same checkpoint")
    args = parser.parse_args()
    model = tpsmm.load_model(args.checkpoint).eval()
    size = model.frame_size
    image = load_image(ASSETS / "source.png")
    source = fit_frame(image, min(image.shape[:2]))  # the centre square, full resolution
    driving = fit_frames(read_video(ASSETS / "driving.mp4", args.frames), size)
    backends: dict[str, object] = {"torch": model}
    if args.onnx is not None:
        backends["onnxruntime"] = tpsmm.load_onnx(args.onnx, device="cpu")
    variants = {}
    for name, backend in backends.items():
        backend = as_backend(backend)
        variants[f"{name}, {size} (the model)"] = backend.animator(
            fit_frame(source, size), "relative"
        )
        for wanted in args.sizes:
            variants[f"{name}, {wanted}"] = backend.animator(source, "relative", resolution=wanted)
    timings: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    for animator in variants.values():  # warm-up
        seconds_per_frame(animator, driving[:2])
    load = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, animator in variants.items():
            timings[name].append(seconds_per_frame(animator, driving))
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
        f"{torch.__version__} ({torch.get_num_threads()} threads), load average "
        f"{load:.1f} -> {os.getloadavg()[0]:.1f}; {time.strftime('%Y-%m-%d %H:%M')}; source "
        f"{source.shape[1]}x{source.shape[0]}, model {args.checkpoint} at {size}."
    )
    print(
        "| backend, frame size | s/frame (median) | renderer s/frame | CPU s/frame (median) "
        "| renderer CPU s/frame | runs (wall) |"
    )
    print("|---|---|---|---|---|---|")
    for name, values in timings.items():
        backend = name.split(",")[0]
        base = timings[f"{backend}, {size} (the model)"]
        cells = []
        for column in (0, 1):
            median = statistics.median(v[column] for v in values)
            cells.append(f"{median:.3f}")
            own = statistics.median(v[column] for v in base)
            cells.append("" if "model" in name else f"{median - own:.3f}")
        runs = ", ".join(f"{v[0]:.3f}" for v in values)
        print(f"| {name} | {' | '.join(cells)} | {runs} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
