"""Precision against the authors' frames: seconds per frame and PSNR of float32 and
bfloat16, through the command line and through the API.

    python benchmarks/precision_parity.py                 # CPU, the parity inputs
    python benchmarks/precision_parity.py --dtypes float32

For each ``--dtypes`` value and mode (relative, standard) it animates the inputs of the
parity fixture (``tests/reference/parity_vox256.npz``: the reference weights' source and
driving frames 0 and 1) and compares the frames with the authors' (``pred_relative``,
``pred_standard``):

* ``cli``: ``tpsmm animate --dtype NAME`` in a fresh process, PNG frames out (uint8, so
  the PSNR is capped near 59 dB by the rounding to 8 bits); seconds per frame from its
  summary line (the animation pass: decode, animate, encode);
* ``api``: ``tpsmm.load_model(...).set_compute_dtype(dtype)`` then ``tpsmm.animate``
  (float frames), timed around ``tpsmm.animate``.

Both precisions go through ``TPSMM.set_compute_dtype`` (the keypoint detector,
background predictor, AVD network and geometry stay float32). Without native bfloat16
(no AVX-512 BF16 or AMX) a bfloat16 frame takes minutes: keep --frames small.
"""

from __future__ import annotations

import argparse
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import tpsmm
from tpsmm.media import load_image, save_image
from tpsmm.runtime import cpu_flags, resolve_precision

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from reference_weights import REFERENCE, reference_weights  # noqa: E402

CLI = [sys.executable, "-c", "import sys, tpsmm.cli as c; sys.exit(c.main(sys.argv[1:]))"]
MODES = {"relative": "pred_relative", "standard": "pred_standard"}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of frames in [0, 1]."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1 / mse)


def run_cli(checkpoint: Path, source: Path, driving: Path, out: Path, mode: str, dtype: str):
    """``tpsmm animate`` into a PNG folder: (frames in [0, 1], seconds per frame)."""
    done = subprocess.run(
        [*CLI, "animate", "--source", source, "--driving", driving, "--output", out,
         "--checkpoint", checkpoint, "--config", "vox-256", "--mode", mode,
         "--dtype", dtype, "--device", "cpu"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rate = float(re.search(r"([0-9.]+) frames/s", done.stdout).group(1))
    frames = np.stack([load_image(p) for p in sorted(out.glob("*.png"))]).astype(np.float32)
    return frames / 255, 1 / rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"])
    parser.add_argument("--paths", nargs="+", default=["cli", "api"], choices=["cli", "api"])
    args = parser.parse_args()

    checkpoint = reference_weights()[0]
    with np.load(REFERENCE / "parity_vox256.npz") as data:
        ref = {key: data[key] for key in data.files}
    device = torch.device("cpu")
    flags = cpu_flags()
    native = sorted(flags & {"avx512f", "avx512_bf16", "amx_bf16"}) or ["none of them"]
    print(
        f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, capability "
        f"{torch.backends.cpu.get_cpu_capability()}, AVX-512/BF16/AMX flags: {', '.join(native)}"
    )
    print("\n| path | dtype | mode | frames | s/frame | PSNR vs authors (dB) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "source.png"
        save_image(source, ref["source"])
        driving = folder / "driving"
        driving.mkdir()
        for i, frame in enumerate(ref["driving"]):
            save_image(driving / f"{i}.png", frame)
        for dtype in args.dtypes:
            precision = resolve_precision(dtype, device)
            label = f"{dtype} ({'native' if precision.native else 'emulated'})"
            model = None
            for mode, key in MODES.items():
                kept = ref[f"{key}_index"]
                expected = ref[key]
                if "cli" in args.paths:
                    out = folder / f"cli-{dtype}-{mode}"
                    frames, seconds = run_cli(checkpoint, source, driving, out, mode, dtype)
                    value = psnr(frames[kept], expected)
                    print(
                        f"| cli | {label} | {mode} | {len(frames)} | {seconds:.2f} | {value:.1f} |"
                    )
                if "api" in args.paths:
                    if model is None:
                        model = tpsmm.load_model(checkpoint, "vox-256")
                        model.set_compute_dtype(precision.dtype)
                    start = time.perf_counter()
                    frames = tpsmm.animate(model, ref["source"], ref["driving"], mode)
                    seconds = (time.perf_counter() - start) / len(frames)
                    value = psnr(frames[kept], expected)
                    print(
                        f"| api | {label} | {mode} | {len(frames)} | {seconds:.2f} | {value:.1f} |"
                    )
                sys.stdout.flush()


if __name__ == "__main__":
    main()
