"""DataLoader workers: the config's number is capped to the cores this process may use."""

from __future__ import annotations

import os

import pytest

from tpsmm.data import loader_workers, usable_cores
from tpsmm.errors import TPSMMError


def test_usable_cores_follow_the_affinity_mask():
    if hasattr(os, "sched_getaffinity"):
        assert usable_cores() == len(os.sched_getaffinity(0))
    assert usable_cores() >= 1


@pytest.mark.parametrize(
    ("configured", "explicit", "local_world", "cores", "expected"),
    [
        (4, None, "1", 2, 2),  # the authors' 4 on a 2-core machine
        (4, None, "1", 16, 4),
        (0, None, "1", 2, 0),
        (8, None, "4", 16, 4),  # 4 torchrun processes share 16 cores
        (8, None, "8", 4, 1),  # at least one each
        (4, 6, "1", 2, 6),  # --workers 6 is the user's choice
    ],
)
def test_loader_workers(monkeypatch, configured, explicit, local_world, cores, expected):
    monkeypatch.setattr("tpsmm.data.workers.usable_cores", lambda: cores)
    environ = {"LOCAL_WORLD_SIZE": local_world}
    assert loader_workers(configured, explicit, environ) == expected


def test_loader_workers_refuse_a_broken_torchrun_environment(monkeypatch):
    """LOCAL_WORLD_SIZE is read by the one torchrun policy (tpsmm.runtime.torchrun_env)."""
    with pytest.raises(TPSMMError, match="LOCAL_WORLD_SIZE"):
        loader_workers(4, None, {"LOCAL_WORLD_SIZE": "x"})
