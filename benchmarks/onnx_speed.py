"""onnxruntime against tpsmm's PyTorch float32 path: speed, same frames, one run.

Exports the model (reference weights by default) to ONNX once (``--onnx DIR`` reuses an
export), then animates the same driving frames with PyTorch float32 (``tpsmm.animate``,
the fast inference paths) and with onnxruntime in several session configurations,
interleaved round by round in one process, so each ratio is measured within one run.
Each timed run starts after ``--settle`` seconds of rest: torch's and onnxruntime's
thread pools spin for a while after their work, and a backend started while the other's
threads still spin shares the cores with them.

    python benchmarks/onnx_speed.py                         # CPU, 256x256, relative mode
    python benchmarks/onnx_speed.py --onnx /tmp/vox-onnx --frames 8 --repeats 5

Reports seconds per frame (median of --repeats runs after a warm-up round), the median
of the per-run speed-ups against PyTorch, and the largest frame difference against
PyTorch. The export time and the graph sizes are printed first.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import tpsmm
from tpsmm.export import OnnxModel
from tpsmm.media import fit_frames, load_image, read_video

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "src" / "tpsmm" / "assets"
sys.path.insert(0, str(REPO / "tests"))
from reference_weights import reference_weights  # noqa: E402  (after the path is set)

#: name -> OnnxModel options.
VARIANTS: dict[str, dict] = {
    "ort all": {"optimization": "all"},
    "ort extended": {"optimization": "extended"},
    "ort basic": {"optimization": "basic"},
    "ort all 1 thread": {"optimization": "all", "threads": 1},
    "ort all parallel": {
        "optimization": "all",
        "execution_mode": "parallel",
        "inter_op_threads": 2,
    },
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--onnx", type=Path, help="an existing export (else one is made)")
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1])
    parser.add_argument("--mode", default="relative")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument(
        "--settle",
        type=float,
        default=1.0,
        help="seconds of rest before each timed run, for the previous backend's threads "
        "to stop spinning (default 1)",
    )
    args = parser.parse_args()

    checkpoint = args.checkpoint or reference_weights()[0]
    # Our PyTorch float32 path as `tpsmm animate --dtype float32` loads it.
    model = tpsmm.load_animation_model(checkpoint, device="cpu", dtype="float32")
    folder = args.onnx
    if folder is None or not (folder / "manifest.json").exists():
        folder = folder or Path(tempfile.mkdtemp(prefix="tpsmm-onnx-")) / "export"
        started = time.perf_counter()
        tpsmm.export_onnx(model, folder, checkpoint=checkpoint, progress=print)
        print(f"export: {time.perf_counter() - started:.1f} s")
    sizes = {p.name: p.stat().st_size / 2**20 for p in sorted(folder.iterdir())}
    print("files (MiB): " + ", ".join(f"{name} {size:.2f}" for name, size in sizes.items()))

    size = model.frame_size
    source = fit_frames(load_image(ASSETS / "source.png")[None], size)[0]
    driving = fit_frames(read_video(ASSETS / "driving.mp4", max_frames=args.frames), size)
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, {len(driving)} frames at {size}, mode {args.mode}"
    )
    backends = {"torch float32": model}
    for name in args.variants:
        backends[name] = OnnxModel(folder, device="cpu", **VARIANTS[name])
    runs = [(name, batch) for name in backends for batch in args.batch_sizes]
    times: dict[str, list[float]] = {}
    outputs: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats + 1):  # the first round warms up (and makes sessions)
        for name, batch in runs:
            label = f"{name} batch {batch}"
            time.sleep(args.settle)
            started = time.perf_counter()
            outputs[label] = tpsmm.animate(
                backends[name], source, driving, args.mode, batch_size=batch
            )
            if repeat:
                times.setdefault(label, []).append((time.perf_counter() - started) / len(driving))
        if repeat:
            print(f"run {repeat}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()))

    print(
        "\n| variant | s/frame (median) | frames/s | speed-up vs torch float32 | max abs diff vs torch |"
    )
    print("|---|---|---|---|---|")
    for label, values in times.items():
        batch = label.rsplit(" ", 1)[1]
        base = times[f"torch float32 batch {batch}"]
        ratio = statistics.median(b / v for b, v in zip(base, values, strict=True))
        diff = np.abs(outputs[label] - outputs[f"torch float32 batch {batch}"]).max()
        median = statistics.median(values)
        print(f"| {label} | {median:.3f} | {1 / median:.2f} | {ratio:.2f}x | {diff:.1e} |")


if __name__ == "__main__":
    main()
