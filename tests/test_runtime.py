"""The device and precision policy (:mod:`tpsmm.runtime`): devices, torchrun's
environment, native reduced precision from the CPU flags, the one-line warning."""

from __future__ import annotations

import warnings

import pytest
import torch

from tpsmm.errors import TPSMMError
from tpsmm.runtime import (
    SlowPrecisionWarning,
    TorchrunEnv,
    cpu_flags,
    native_dtypes,
    resolve_device,
    resolve_precision,
    torchrun_env,
    warn_if_slow,
)

CPU = torch.device("cpu")
AVX512_BF16 = frozenset({"avx2", "avx512f", "avx512_bf16"})
AMX = frozenset({"avx2", "avx512f", "amx_bf16", "amx_tile"})
AVX2_ONLY = frozenset({"avx2", "fma"})


def test_devices():
    assert resolve_device("cpu") == CPU
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device(CPU) is CPU
    for bad in ("gpu", "cpu:1", "cuda:x", "auto:0", "mps:0"):
        with pytest.raises(TPSMMError, match="unknown device"):
            resolve_device(bad)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_one_line():
    for name in ("cuda", "cuda:1"):
        with pytest.raises(TPSMMError, match="no CUDA GPU is available here"):
            resolve_device(name)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has Metal")
def test_mps_without_metal_is_one_line():
    with pytest.raises(TPSMMError, match="Metal"):
        resolve_device("mps")


def test_torchrun_environment():
    assert torchrun_env({}) == TorchrunEnv(0, 1, 0, launched=False)
    env = torchrun_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"})
    assert env == TorchrunEnv(3, 4, 1, launched=True) and not env.is_main
    assert torchrun_env({"LOCAL_WORLD_SIZE": "2"}).local_world_size == 2
    for bad in (
        {"RANK": "4", "WORLD_SIZE": "4"},
        {"RANK": "x"},
        {"WORLD_SIZE": "0"},
        {"LOCAL_RANK": "-1"},
        {"LOCAL_WORLD_SIZE": "0"},
        {"LOCAL_WORLD_SIZE": "x"},
    ):
        with pytest.raises(TPSMMError, match="0 <= RANK < WORLD_SIZE"):
            torchrun_env(bad)


@pytest.mark.parametrize(
    ("flags", "capability", "environ", "expected"),
    [
        (AVX512_BF16, "AVX512", {}, {torch.float32, torch.bfloat16}),
        (AMX, "AVX512", {}, {torch.float32, torch.bfloat16}),
        (AMX | {"amx_fp16"}, "AVX512", {}, {torch.float32, torch.bfloat16, torch.float16}),
        (AVX2_ONLY, "AVX2", {}, {torch.float32}),
        # AVX-512 without its BF16 extension emulates bfloat16.
        (frozenset({"avx512f", "avx512bw"}), "AVX512", {}, {torch.float32}),
        # PyTorch limited to AVX2 (ATEN_CPU_CAPABILITY=avx2) or oneDNN limited below BF16.
        (AVX512_BF16, "AVX2", {}, {torch.float32}),
        (AVX512_BF16, "AVX512", {"ONEDNN_MAX_CPU_ISA": "AVX2"}, {torch.float32}),
        (AVX512_BF16, "AVX512", {"ONEDNN_MAX_CPU_ISA": "avx512_core_bf16"}, None),
    ],
)
def test_native_reduced_precision_on_a_cpu(flags, capability, environ, expected):
    native = native_dtypes(CPU, flags=flags, environ=environ, capability=capability)
    assert native == (expected or {torch.float32, torch.bfloat16})


def test_this_cpu():
    """What the policy says about the CPU the tests run on, from its own flags."""
    native = native_dtypes(CPU)
    if not cpu_flags() & {"avx512_bf16", "amx_bf16"}:
        assert torch.bfloat16 not in native
    auto = resolve_precision("auto", CPU)
    assert auto.chosen and auto.native
    assert auto.dtype is (torch.bfloat16 if torch.bfloat16 in native else torch.float32)


def test_explicit_precisions_and_the_warning():
    float32 = resolve_precision("float32", CPU)
    assert float32.dtype is torch.float32 and float32.native and not float32.chosen
    assert float32.slow_warning(CPU) is None
    assert resolve_precision(torch.float16, CPU).dtype is torch.float16
    with pytest.raises(TPSMMError, match="unknown dtype 'fp8'"):
        resolve_precision("fp8", CPU)
    with pytest.raises(TPSMMError, match="unsupported dtype"):
        resolve_precision(torch.float64, CPU)
    bf16 = resolve_precision("bfloat16", CPU)
    if bf16.native:
        pytest.skip("this CPU computes bfloat16 natively")
    message = bf16.slow_warning(CPU)
    assert message is not None and "\n" not in message
    assert "bfloat16 is not native on this CPU" in message and "AVX-512 BF16 or AMX" in message
    with pytest.warns(SlowPrecisionWarning, match="emulated"):
        warn_if_slow(bf16, CPU)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warn_if_slow(float32, CPU)
