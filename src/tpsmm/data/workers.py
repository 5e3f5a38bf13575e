"""How many DataLoader worker processes a machine can run.

A config's ``dataloader_workers`` (4 in the authors' files) is a wish written for some
other machine: :func:`loader_workers` caps it to the CPU cores this process may use,
shared by the processes torchrun starts on the machine, so that a 2-core machine does
not get PyTorch's "suggested max number of worker" warning and a pile of idle workers.
An explicit number (``--workers N``) is the user's choice and is not capped.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from tpsmm.runtime import torchrun_env


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the system has one,
    as containers and batch schedulers set it; else all cores)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


def loader_workers(
    configured: int, explicit: int | None = None, environ: Mapping[str, str] | None = None
) -> int:
    """The number of DataLoader workers to start.

    Args:
        configured: the config's ``dataloader_workers``.
        explicit: the user's own number (``--workers``), returned as it is when given.
        environ: where torchrun's ``LOCAL_WORLD_SIZE`` (processes per machine) is read
            (:func:`tpsmm.runtime.torchrun_env`); default ``os.environ``.

    Returns:
        ``explicit``, else ``configured`` capped to :func:`usable_cores` divided among
        the machine's processes (at least one core each; 0 workers stays 0).

    Raises:
        TPSMMError: a torchrun environment that is not whole numbers.
    """
    if explicit is not None:
        return explicit
    per_machine = torchrun_env(environ).local_world_size
    return min(configured, max(usable_cores() // per_machine, 1))
