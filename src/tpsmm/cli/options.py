"""Command-line options shared by every command that runs a model: ``--device`` and
``--dtype``, with the policy of :mod:`tpsmm.runtime` behind them."""

from __future__ import annotations

from typing import Any

from tpsmm.runtime import DTYPES

DEVICE_METAVAR = "auto|cpu|cuda|cuda:N|mps"
DEVICE_HELP = (
    "where to run: auto (default: cuda when available, else cpu), cpu, cuda, cuda:N or mps; "
    "under torchrun, cuda is this process's GPU (cuda:LOCAL_RANK)"
)
DTYPE_HELP = (
    "precision of the dense motion and inpainting networks (keypoints, background, AVD and "
    "geometry stay float32): auto takes bfloat16 where the hardware computes it natively "
    "(a CUDA GPU with bfloat16, or a CPU with AVX-512 BF16 or AMX), else float32; bfloat16 "
    "or float16 without native support is emulated and far slower (a warning says so)"
)


def add_device_argument(parser: Any) -> None:
    """``--device`` (default auto) on ``parser`` (a parser or an argument group)."""
    parser.add_argument("--device", default="auto", metavar=DEVICE_METAVAR, help=DEVICE_HELP)


def add_dtype_argument(parser: Any, default: str = "auto") -> None:
    """``--dtype`` (auto|float32|bfloat16|float16) on ``parser``."""
    parser.add_argument(
        "--dtype",
        default=default,
        metavar="|".join(DTYPES),
        help=f"{DTYPE_HELP} (default {default})",
    )
