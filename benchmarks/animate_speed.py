"""Animation speed: tpsmm's Animator against a per-frame loop like the authors' demo.

The authors' demo (``demo.py: make_animation``) runs one frame at a time, re-encodes the
source for every frame, in float32 with the default memory layout and the reference
operators. That loop is re-created here (``authors_loop``) on the same model, so both run
in one process, interleaved, and the speed-up is a ratio measured in one run (this
machine is shared and its speed drifts by 2x).

    python benchmarks/animate_speed.py                    # CPU, 256x256, relative mode
    python benchmarks/animate_speed.py --device cuda --batch-sizes 1 8 32

Each precision's model is loaded as ``tpsmm animate --dtype NAME`` loads it
(:func:`tpsmm.load_animation_model`: reduced precision through
``TPSMM.set_compute_dtype``, keypoints, background, AVD and geometry in float32), so the
figures are those of the command line. Reports seconds per frame (median of --repeats
runs), the median of the per-run ratios, the largest frame difference of float32 against
the loop (and the share of uint8 output values that differ), and the PSNR of reduced
precision against float32. Weights: --checkpoint, else the reference weights made by
tests/reference/make_reference_weights.py (cached in a temp folder).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

import tpsmm
from tpsmm.animation import relative_keypoints
from tpsmm.media import fit_frames, load_image, read_video, to_uint8
from tpsmm.networks.layers import reference_ops
from tpsmm.runtime import DTYPE_NAMES, SlowPrecisionWarning, resolve_device, resolve_precision

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "src" / "tpsmm" / "assets"
sys.path.insert(0, str(REPO / "tests"))
from reference_weights import reference_weights  # noqa: E402  (after the path is set)


def reference_checkpoint() -> Path:
    """The reference weights, generated once into the tests' cache folder."""
    return reference_weights()[0]


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def authors_loop(model: tpsmm.TPSMM, source: np.ndarray, driving: np.ndarray) -> np.ndarray:
    """The authors' demo loop: per frame, keypoints, relative keypoints, dense motion and
    inpainting with the source encoded again; float32, NCHW, reference operators."""
    device = next(model.parameters()).device
    src = torch.from_numpy(source).to(device).permute(2, 0, 1)[None].float().div(255).contiguous()
    frames = []
    with torch.no_grad(), reference_ops():
        kp_source = model.keypoints(src)
        first = torch.from_numpy(driving[0]).to(device).permute(2, 0, 1)[None].float() / 255
        kp_initial = model.keypoints(first.contiguous())
        for frame in driving:
            drv = torch.from_numpy(frame).to(device).permute(2, 0, 1)[None].float() / 255
            kp_driving = model.keypoints(drv.contiguous())
            kp_norm = relative_keypoints(kp_source, kp_driving, kp_initial)
            out = model.generate(src, kp_source, kp_norm)
            frames.append(out.permute(0, 2, 3, 1).cpu().numpy()[0])
    return np.stack(frames)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def timed(fn, device: torch.device) -> tuple[float, np.ndarray]:
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--frames", type=int, default=8, help="driving frames per run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[4])
    parser.add_argument(
        "--dtypes", nargs="+", default=["float32", "bfloat16"], help="--dtype values (auto too)"
    )
    parser.add_argument("--skip-loop", action="store_true", help="don't time the authors' loop")
    args = parser.parse_args()

    device = resolve_device(args.device)
    checkpoint = args.checkpoint or reference_checkpoint()
    model = tpsmm.load_animation_model(checkpoint, device=device, dtype="float32")
    size = model.frame_size
    source = fit_frames(load_image(ASSETS / "source.png")[None], size)[0]
    driving = fit_frames(read_video(ASSETS / "driving.mp4", max_frames=args.frames), size)

    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, device {device}, {len(driving)} frames at {size}"
    )
    # One model per dtype, loaded as the command line loads it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SlowPrecisionWarning)  # said below, per variant
        models = {
            name: tpsmm.load_animation_model(checkpoint, device=device, dtype=name)
            for name in args.dtypes
        }
    for name, variant in models.items():
        precision = resolve_precision(name, device)
        native = "native" if precision.native else "emulated"
        print(f"# --dtype {name}: {DTYPE_NAMES[variant.compute_dtype]} ({native})")
    variants = [(dtype, batch) for dtype in args.dtypes for batch in args.batch_sizes]
    # Speed-ups are against the authors' loop, or without it against the first variant.
    baseline = "loop" if not args.skip_loop else f"{variants[0][0]} batch {variants[0][1]}"
    times: dict[str, list[float]] = {"loop": []}
    ratios: dict[str, list[float]] = {}
    outputs: dict[str, np.ndarray] = {}
    for repeat in range(args.repeats + 1):  # the first round warms up
        if not args.skip_loop:
            seconds, outputs["loop"] = timed(lambda: authors_loop(model, source, driving), device)
            if repeat:
                times["loop"].append(seconds / len(driving))
        for dtype_name, batch in variants:
            name = f"{dtype_name} batch {batch}"
            seconds, outputs[name] = timed(
                lambda m=models[dtype_name], b=batch: tpsmm.animate(
                    m, source, driving, batch_size=b
                ),
                device,
            )
            if repeat:
                times.setdefault(name, []).append(seconds / len(driving))
                if times.get(baseline):
                    ratios.setdefault(name, []).append(times[baseline][-1] / times[name][-1])
        if repeat:
            print(f"run {repeat}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items() if v))

    float32 = next((outputs[k] for k in outputs if k.startswith("float32")), None)
    print(
        f"\n| variant | s/frame (median) | frames/s | speed-up vs {baseline} (median of runs) "
        "| frames vs reference |"
    )
    print("|---|---|---|---|---|")
    for name, values in times.items():
        if not values:
            continue
        median = statistics.median(values)
        ratio = f"{statistics.median(ratios[name]):.2f}x" if name in ratios else "-"
        if name == "loop":
            quality = "reference"
        elif name.startswith("float32") and "loop" in outputs:
            differ = np.mean(to_uint8(outputs[name]) != to_uint8(outputs["loop"]))
            quality = (
                f"max abs diff {np.abs(outputs[name] - outputs['loop']).max():.1e} vs loop; "
                f"{100 * differ:.3f} % of uint8 values differ"
            )
        elif float32 is not None:
            quality = f"PSNR {psnr(outputs[name], float32):.1f} dB vs float32"
        else:
            quality = ""
        print(f"| {name} | {median:.3f} | {1 / median:.2f} | {ratio} | {quality} |")


if __name__ == "__main__":
    main()
