"""Where and in what precision tpsmm runs: one policy for every command and the API.

Devices
    ``auto`` (CUDA when a GPU is available, else the CPU), ``cpu``, ``cuda`` (``cuda:N``
    for GPU N) or ``mps`` (Apple's Metal). Under ``torchrun`` a bare ``cuda`` (or ``auto``
    that lands on CUDA) is this process's GPU, ``cuda:LOCAL_RANK``.

torchrun's environment
    ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` are read here and nowhere else
    (:func:`torchrun_env`): the pairs runner shards by them, training joins a process
    group with them, only rank 0 prints.

Precision
    ``float32``, ``bfloat16``, ``float16`` or ``auto``. Reduced precision is applied
    with :meth:`tpsmm.TPSMM.set_compute_dtype`: the dense motion and inpainting networks
    (about 98% of the work) run in it, while the geometry and the keypoint detector,
    background predictor and AVD network stay float32, so keypoints, and the TPS
    transforms they define, are as precise as in float32. ``auto`` picks bfloat16 only
    where it is native and faster: a CUDA GPU with bfloat16 (compute capability 8.0 or
    newer) or a CPU with AVX-512 BF16 or AMX (``avx512_bf16`` / ``amx_bf16`` in the CPU
    flags, with PyTorch's and oneDNN's instruction sets not limited below them); float32
    everywhere else. Without native support, reduced precision is emulated and far
    slower than float32 (over 30x on an AVX2-only CPU): asking for it explicitly there
    works, with a one-line :class:`SlowPrecisionWarning` before the slow work.
"""

from __future__ import annotations

import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
from torch import Tensor

from tpsmm.errors import TPSMMError, TPSMMWarning

__all__ = [
    "DEVICES",
    "DTYPES",
    "Precision",
    "SlowPrecisionWarning",
    "TorchrunEnv",
    "cpu_flags",
    "describe",
    "full_precision",
    "in_full_precision",
    "native_dtypes",
    "resolve_device",
    "resolve_precision",
    "torchrun_env",
]

#: The ``--device`` choices (``cuda:N`` also works).
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
#: The ``--dtype`` choices and their torch dtypes (``auto``: see :func:`resolve_precision`).
DTYPES: dict[str, torch.dtype | None] = {
    "auto": None,
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
#: Short names of the dtypes for messages.
DTYPE_NAMES: dict[torch.dtype, str] = {v: k for k, v in DTYPES.items() if v is not None}

#: CPU flags (as /proc/cpuinfo spells them) of native bfloat16 arithmetic.
CPU_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: CPU flags of native float16 arithmetic.
CPU_FP16_FLAGS = frozenset({"avx512_fp16", "amx_fp16"})
#: ``ONEDNN_MAX_CPU_ISA`` values that still allow oneDNN's bfloat16 instructions.
ONEDNN_BF16_ISAS = frozenset(
    {
        "ALL",
        "DEFAULT",
        "AVX512_CORE_BF16",
        "AVX512_CORE_FP16",
        "AVX512_CORE_AMX",
        "AVX512_CORE_AMX_FP16",
        "AVX10_1_512",
        "AVX10_1_512_AMX",
        "AVX10_1_512_AMX_FP16",
        "AVX10_2_512",
        "AVX10_2_512_AMX_2",
    }
)


R = TypeVar("R")


@contextlib.contextmanager
def full_precision(tensor: Tensor) -> Iterator[None]:
    """Autocast off for ``tensor``'s device inside the block (a no-op where it is not on,
    as in inference and export): operations there run in their inputs' own dtype."""
    device_type = tensor.device.type
    if not torch.is_autocast_enabled(device_type):
        yield
        return
    with torch.autocast(device_type, enabled=False):
        yield


def _first_tensor(values: tuple) -> Tensor | None:
    """The first tensor in ``values``, looking inside tuples (NamedTuples of tensors)."""
    for value in values:
        found = value if isinstance(value, Tensor) else None
        if isinstance(value, tuple):
            found = _first_tensor(value)
        if found is not None:
            return found
    return None


def in_full_precision(function: Callable[..., R]) -> Callable[..., R]:
    """Run a function of tensors under :func:`full_precision` of its first tensor."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        tensor = _first_tensor((*args, *kwargs.values()))
        if tensor is None:
            return function(*args, **kwargs)
        with full_precision(tensor):
            return function(*args, **kwargs)

    return wrapper


class SlowPrecisionWarning(TPSMMWarning):
    """Reduced precision asked for on hardware that only emulates it (far slower)."""


# torchrun -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TorchrunEnv:
    """This process's place among torchrun's processes (``rank`` of ``world_size``,
    ``local_rank`` of ``local_world_size`` on its machine); ``launched`` is False outside
    torchrun."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    launched: bool = False
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        """True on rank 0, the process that prints and saves."""
        return self.rank == 0


def torchrun_env(environ: Mapping[str, str] | None = None) -> TorchrunEnv:
    """``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``LOCAL_WORLD_SIZE`` (processes on
    this machine) as torchrun sets them; rank 0 of 1 when they are not set.

    Raises:
        TPSMMError: values that are not whole numbers with 0 <= RANK < WORLD_SIZE,
            LOCAL_RANK >= 0 and LOCAL_WORLD_SIZE >= 1.
    """
    environ = os.environ if environ is None else environ
    names = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE")
    texts = {name: environ.get(name) for name in names}
    try:
        rank = int(texts["RANK"] or 0)
        world_size = int(texts["WORLD_SIZE"] or 1)
        local_rank = int(texts["LOCAL_RANK"] or 0)
        local_world_size = int(texts["LOCAL_WORLD_SIZE"] or 1)
    except ValueError:
        rank, world_size, local_rank, local_world_size = -1, 0, -1, 0
    if world_size < 1 or not 0 <= rank < world_size or local_rank < 0 or local_world_size < 1:
        shown = ", ".join(f"{k}={v!r}" for k, v in texts.items() if v is not None)
        raise TPSMMError(
            f"torchrun environment {shown}: RANK, WORLD_SIZE, LOCAL_RANK and "
            "LOCAL_WORLD_SIZE must be whole numbers with 0 <= RANK < WORLD_SIZE"
        )
    launched = any(value is not None for value in texts.values())
    return TorchrunEnv(rank, world_size, local_rank, launched, local_world_size)


# Devices --------------------------------------------------------------------------------


def resolve_device(
    name: str | torch.device | None = "auto", *, env: TorchrunEnv | None = None
) -> torch.device:
    """The torch device for ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps`` (None:
    ``auto``).

    Under torchrun (``env``, default :func:`torchrun_env`) a device ``cuda`` without an
    index, or ``auto`` on a machine with CUDA, is ``cuda:LOCAL_RANK`` (modulo the GPUs
    this process sees, for launchers that give each process its own).

    Raises:
        TPSMMError: an unknown name, or a device this machine does not have.
    """
    if isinstance(name, torch.device):
        return name
    name = "auto" if name is None else str(name).strip().lower()
    kind, _, index = name.partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise TPSMMError(f"unknown device {name!r}; choose auto, cpu, cuda, cuda:N or mps")
    if kind == "auto":
        kind = "cuda" if torch.cuda.is_available() else "cpu"
    if kind == "cuda":
        if not torch.cuda.is_available():
            raise TPSMMError(f"device {name}: no CUDA GPU is available here (use --device cpu)")
        if not index:
            env = torchrun_env() if env is None else env
            # A launcher that gives each process one GPU (CUDA_VISIBLE_DEVICES per task)
            # leaves fewer visible GPUs than LOCAL_RANK: count within those visible.
            local = env.local_rank % torch.cuda.device_count() if env.launched else 0
            return torch.device("cuda", local)
        if int(index) >= torch.cuda.device_count():
            raise TPSMMError(
                f"device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s)"
            )
        return torch.device("cuda", int(index))
    if kind == "mps" and not torch.backends.mps.is_available():
        raise TPSMMError("device mps: Apple's Metal backend is not available here")
    return torch.device(kind)


# Precision ------------------------------------------------------------------------------


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (lower case, from ``/proc/cpuinfo`` on Linux: ``flags`` on
    x86, ``Features`` on ARM); empty where they cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return frozenset(value.lower().split())
    return frozenset()


def _cpu_isa_allows_reduced_precision(environ: Mapping[str, str], capability: str) -> bool:
    """Whether PyTorch's and oneDNN's instruction sets are not limited (by
    ``ATEN_CPU_CAPABILITY`` / ``ONEDNN_MAX_CPU_ISA``) below AVX-512 with bfloat16."""
    if capability != "AVX512":
        return False
    limit = environ.get("ONEDNN_MAX_CPU_ISA") or environ.get("DNNL_MAX_CPU_ISA")
    return limit is None or limit.strip().upper() in ONEDNN_BF16_ISAS


def native_dtypes(
    device: torch.device,
    *,
    flags: frozenset[str] | None = None,
    environ: Mapping[str, str] | None = None,
    capability: str | None = None,
) -> frozenset[torch.dtype]:
    """The dtypes ``device`` computes natively (float32 always).

    CUDA: bfloat16 from compute capability 8.0 (Ampere), float16 always. MPS: float16.
    CPU: bfloat16 with the ``avx512_bf16`` or ``amx_bf16`` flag, float16 with
    ``avx512_fp16`` or ``amx_fp16``, unless ``ATEN_CPU_CAPABILITY`` or
    ``ONEDNN_MAX_CPU_ISA`` limit PyTorch below AVX-512. ``flags``, ``environ`` and
    ``capability`` default to this machine's (:func:`cpu_flags`, ``os.environ``,
    ``torch.backends.cpu.get_cpu_capability()``).
    """
    native = {torch.float32}
    if device.type == "cuda":
        native.add(torch.float16)
        if torch.cuda.get_device_capability(device)[0] >= 8:
            native.add(torch.bfloat16)
    elif device.type == "mps":
        native.add(torch.float16)
    elif device.type == "cpu":
        flags = cpu_flags() if flags is None else flags
        environ = os.environ if environ is None else environ
        if capability is None:
            capability = torch.backends.cpu.get_cpu_capability()
        if _cpu_isa_allows_reduced_precision(environ, capability):
            if flags & CPU_BF16_FLAGS:
                native.add(torch.bfloat16)
            if flags & CPU_FP16_FLAGS:
                native.add(torch.float16)
    return frozenset(native)


@dataclass(frozen=True)
class Precision:
    """The outcome of :func:`resolve_precision`.

    Attributes:
        dtype: the compute dtype of the dense motion and inpainting networks.
        native: whether ``device`` computes it natively.
        chosen: True when ``auto`` picked it.
    """

    dtype: torch.dtype
    native: bool
    chosen: bool = False

    @property
    def name(self) -> str:
        return DTYPE_NAMES[self.dtype]

    def slow_warning(self, device: torch.device) -> str | None:
        """The one-line warning for a reduced precision that ``device`` only emulates,
        else None."""
        if self.native or self.dtype == torch.float32:
            return None
        return (
            f"{self.name} is not native on {describe_hardware(device, self.dtype)}: it is "
            "emulated and far slower than float32 here (over 30x on an AVX2-only CPU)"
        )


def resolve_precision(name: str | torch.dtype | None, device: torch.device) -> Precision:
    """The precision for ``--dtype NAME`` on ``device``.

    ``auto`` (or None) is bfloat16 where ``device`` computes it natively (see
    :func:`native_dtypes`: it is then faster than float32 at a PSNR near 57 dB against
    float32), else float32.

    Raises:
        TPSMMError: an unknown name.
    """
    native = native_dtypes(device)
    if name is None or name == "auto":
        dtype = torch.bfloat16 if torch.bfloat16 in native else torch.float32
        return Precision(dtype, True, chosen=True)
    if isinstance(name, torch.dtype):
        dtype = name
    elif name in DTYPES:
        dtype = DTYPES[name]  # type: ignore[assignment]
    else:
        raise TPSMMError(f"unknown dtype {name!r}; choose one of {', '.join(DTYPES)}")
    if dtype not in DTYPE_NAMES:
        raise TPSMMError(f"unsupported dtype {dtype}; choose one of {', '.join(DTYPES)}")
    return Precision(dtype, dtype in native)


def warn_if_slow(precision: Precision, device: torch.device, stacklevel: int = 2) -> None:
    """Issue :class:`SlowPrecisionWarning` when ``precision`` is emulated on ``device``."""
    message = precision.slow_warning(device)
    if message is not None:
        warnings.warn(message, SlowPrecisionWarning, stacklevel=stacklevel + 1)


def describe_hardware(device: torch.device, dtype: torch.dtype) -> str:
    """How messages name ``device`` and what it lacks for ``dtype``: ``this CPU (AVX2;
    bfloat16 needs AVX-512 BF16 or AMX)``, ``cuda:0 (NVIDIA ..., compute capability
    7.5)``, ``mps``."""
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        name = torch.cuda.get_device_name(device)
        return f"{device} ({name}, compute capability {major}.{minor})"
    if device.type == "cpu":
        needs = "AVX-512 BF16 or AMX" if dtype == torch.bfloat16 else "AVX-512 FP16 or AMX-FP16"
        capability = torch.backends.cpu.get_cpu_capability()
        return f"this CPU ({capability} in use; {DTYPE_NAMES[dtype]} needs {needs})"
    return str(device)


def describe(device: torch.device, dtype: torch.dtype) -> str:
    """``float32 on cpu`` for summary lines."""
    return f"{DTYPE_NAMES.get(dtype, str(dtype))} on {device}"
