"""Writing files atomically: the one helper every output of tpsmm goes through.

A file is written under a hidden temporary name next to its target,
``.<stem>.partial-<token><suffix>`` (the suffix kept, so that libraries that pick the
format from it still do), and renamed onto the target only when complete: a reader never
sees a half-written file, and a failure, Ctrl-C or SIGTERM leaves the target as it was.
Only ``kill -9`` (or a power cut) can leave a temporary behind; :func:`stale_partials`
finds those, and a training run removes its own when it starts.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PARTIAL_MARK", "atomic_path", "partial_path", "stale_partials"]

#: What every temporary name holds, after the target's stem.
PARTIAL_MARK = ".partial-"
_PARTIAL = re.compile(r"^\..+\.partial-[0-9a-f]{8}")


def partial_path(path: str | os.PathLike) -> Path:
    """A fresh hidden temporary name next to ``path``: ``.<stem>.partial-<8 hex><suffix>``
    for a file, ``.<name>.partial-<8 hex>`` for a name without a suffix (a folder)."""
    path = Path(path)
    token = secrets.token_hex(4)
    return path.with_name(f".{path.stem}{PARTIAL_MARK}{token}{path.suffix}")


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path (:func:`partial_path`) to write ``path``'s contents to;
    rename it onto ``path`` when the block ends normally, remove it otherwise.

    The parent folder is created when missing.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = partial_path(path)
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def stale_partials(folder: str | os.PathLike) -> list[Path]:
    """The temporaries :func:`partial_path` named that a killed process left directly in
    ``folder`` (sorted; empty when the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(entry for entry in folder.iterdir() if _PARTIAL.match(entry.name))
