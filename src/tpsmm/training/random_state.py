"""The random streams of a training run, seeded, saved and restored for an exact resume.

Every random choice of a run is a function of saved state: the item order of epoch
``e`` comes from ``(seed, e)`` (:class:`tpsmm.training.distributed.GlobalBatchSampler`),
the items themselves from ``(dataset seed, e, index)`` (``FramesDataset.set_epoch``),
the random TPS of the equivariance loss (and the AVD scales) from a generator shared by
the ranks and the TPS dropout from a per-rank generator; torch's, NumPy's and Python's
global states are saved too (:func:`rng_snapshot`), per rank.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from tpsmm.errors import ConfigError
from tpsmm.training.run_files import STATE_KEY

__all__ = ["derived_seed", "restore_rng", "rng_snapshot", "run_seed", "seed_process"]


def run_seed(requested: int | None, resume: Mapping[str, Any] | None) -> int:
    """The run's seed: the resumed run's own (every random stream of an exact resume
    derives from it), else ``requested`` or 0.

    Raises:
        ConfigError: ``requested`` differs from the resumed run's seed.
    """
    stored = None if resume is None else resume.get(STATE_KEY, {}).get("seed")
    if requested is None:
        return 0 if stored is None else int(stored)
    if stored is not None and requested != int(stored):
        raise ConfigError(
            f"the run was started with seed {int(stored)}, not {requested}: resume it "
            "without --seed (or with its own)"
        )
    return requested


def derived_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (NumPy's SeedSequence)."""
    return (
        int(
            np.random.SeedSequence([p & (2**63 - 1) for p in parts]).generate_state(1, np.uint64)[0]
        )
        >> 1
    )


def rng_snapshot(private: torch.Generator, device: torch.device) -> dict[str, Any]:
    """This process's random states as tensors and plain data (weights_only-loadable)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    snapshot: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
        "private": private.get_state(),
    }
    if device.type == "cuda":
        snapshot["cuda"] = torch.cuda.get_rng_state(device)
    return snapshot


def restore_rng(
    snapshot: Mapping[str, Any], private: torch.Generator, device: torch.device
) -> None:
    """Inverse of :func:`rng_snapshot`."""
    torch.set_rng_state(snapshot["torch"])
    numpy_state = snapshot["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["pos"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    python = snapshot["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    private.set_state(snapshot["private"])
    if device.type == "cuda" and snapshot.get("cuda") is not None:
        torch.cuda.set_rng_state(snapshot["cuda"], device)


def seed_process(seed: int, rank: int) -> None:
    """Seed torch (the same on every rank: equal initial weights), NumPy and Python
    (per rank)."""
    torch.manual_seed(seed)
    np.random.seed(derived_seed(seed, 2, rank) % 2**32)
    random.seed(derived_seed(seed, 3, rank))
