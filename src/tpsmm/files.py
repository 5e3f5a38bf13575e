"""Where and how tpsmm writes: the one atomic-write helper, and finding out before the
slow work that an output can be written.

Atomic writes. A file is written under a hidden temporary name next to its target,
``.<stem>.partial-<token><suffix>`` (the suffix kept, so that libraries that pick the
format from it still do), and renamed onto the target only when complete: a reader never
sees a half-written file, and a failure, Ctrl-C or SIGTERM leaves the target as it was.
Only ``kill -9`` (or a power cut) can leave a temporary behind; :func:`stale_partials`
finds those, and a training run removes its own when it starts.

Write checks. Every command checks its output location first
(:func:`check_writable_folder`), so that a folder without write permission, a read-only
or full file system, or a path that is a file is one line naming the path, before a model
is loaded or a frame computed. Failures that only show later (a disk that fills up during
a job) are reported by the writers the same way (:func:`write_error`).

Reading back. tpsmm's own side files of a dataset (landmarks, ground-truth motion) are
``.npz`` archives with a ``format_version``; :func:`read_versioned_npz` reads one or says
in one line that it is damaged or of another version. Nothing heavy is imported here.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from tpsmm.errors import OutputError, TPSMMError, describe_os_error

__all__ = [
    "PARTIAL_MARK",
    "PROBE_BYTES",
    "atomic_path",
    "check_writable_folder",
    "partial_path",
    "reason",
    "stale_partials",
    "write_error",
]

#: What every temporary name holds, after the target's stem.
PARTIAL_MARK = ".partial-"
_PARTIAL = re.compile(r"^\..+\.partial-[0-9a-f]{8}")
#: Bytes written (and removed) to find a full file system before the work.
PROBE_BYTES = 4096


def partial_path(path: str | os.PathLike, *, folder: bool = False) -> Path:
    """A fresh hidden temporary name next to ``path``: ``.<stem>.partial-<8 hex><suffix>``
    for a file (``.out.partial-1a2b3c4d.mp4`` for ``out.mp4``), ``.<name>.partial-<8 hex>``
    for a folder (``folder=True``: its whole name, dots included) or a name without a
    suffix."""
    path = Path(path)
    token = secrets.token_hex(4)
    if folder:
        return path.with_name(f".{path.name}{PARTIAL_MARK}{token}")
    return path.with_name(f".{path.stem}{PARTIAL_MARK}{token}{path.suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary file (:func:`partial_path`) to write ``path``'s contents to;
    rename it onto ``path`` when the block ends normally, remove it otherwise.

    The parent folder is created when missing. The temporary file is created empty with
    the mode new files get (0666 less the umask, as ``open`` gives), so the renamed file
    is as readable as any other.

    Raises:
        OutputError: the folder cannot be created or written, or the write failed
            (naming ``path``, e.g. a full disk; ``torch.save`` reports one as a
            RuntimeError).
    """
    path = Path(path)
    temporary = partial_path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    except OSError as error:
        raise write_error(path, error) from None
    try:
        yield temporary
        os.replace(temporary, path)
    except (OSError, RuntimeError) as error:
        raise write_error(path, error) from None
    finally:
        temporary.unlink(missing_ok=True)


def stale_partials(folder: str | os.PathLike) -> list[Path]:
    """The temporaries :func:`partial_path` named that a killed process left directly in
    ``folder`` (sorted; empty when the folder does not exist)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(entry for entry in folder.iterdir() if _PARTIAL.match(entry.name))


def check_writable_folder(folder: str | os.PathLike, target: object = None) -> Path:
    """Check that files can be written in ``folder``, or that it can be created.

    A folder that does not exist yet is fine when its nearest existing parent is a
    writable folder (nothing is created: the command creates it when it writes). The
    check creates, fills with :data:`PROBE_BYTES` bytes and removes a hidden file, so it
    finds what permission bits alone do not (a read-only or full file system, ACLs).

    Args:
        folder: the folder that will hold the output.
        target: how the message names the output (default: ``folder``).

    Returns:
        ``folder`` as a Path.

    Raises:
        OutputError: ``"{target}: ..."``: a part of the path is a file, the folder
            cannot be written (permission denied, read-only or full file system).
    """
    folder = Path(folder)
    name = folder if target is None else target
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise OutputError(f"{name}: {existing} is a file, not a folder")
    probe = existing / f".tpsmm-write-check-{secrets.token_hex(4)}"
    try:
        handle = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(handle, bytes(PROBE_BYTES))
        finally:
            os.close(handle)
    except OSError as error:
        raise OutputError(f"{name}: cannot write in {existing} ({reason(error)})") from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink(missing_ok=True)
    return folder


def reason(error: OSError) -> str:
    """The system's reason for a failed file operation, e.g. ``"Permission denied"``."""
    return error.strerror or describe_os_error(error)


def write_error(path: str | os.PathLike, error: BaseException) -> OutputError:
    """The one-line error for a failed write of ``path``: ``"{path}: cannot write
    ({reason})"``. For an error without a system reason (``torch.save`` reports a full
    disk as a RuntimeError) the reason is "no space left on device" when the file
    system has no room left, else the error's first line."""
    if isinstance(error, OSError) and error.strerror:
        why = error.strerror
    else:
        why = describe_os_error(error) if isinstance(error, OSError) else str(error).strip()
        why = why.splitlines()[0] if why else type(error).__name__
        if _full(Path(path).parent):
            why = "No space left on device"
    return OutputError(f"{path}: cannot write ({why})")


def _full(folder: Path) -> bool:
    """Whether the file system holding ``folder`` has less than a probe's room left."""
    try:
        return shutil.disk_usage(folder).free < PROBE_BYTES
    except OSError:
        return False


def read_versioned_npz(path: Path, kind: str, version: int, names: Sequence[str]) -> dict:
    """The arrays ``names`` of the tpsmm ``.npz`` file ``path`` of format ``version``.

    Args:
        kind: what the file is, for messages (``"landmark"``, ``"ground-truth"``).

    Raises:
        TPSMMError: another format version, or a file that is not such an archive
            (truncated, empty, another file under the name, an array missing).
    """
    import numpy as np

    try:
        with np.load(path) as data:
            found = int(data["format_version"])
            if found != version:
                raise TPSMMError(f"{path}: {kind} format {found}, this tpsmm reads {version}")
            return {name: data[name] for name in names}
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as error:
        raise TPSMMError(f"{path}: not a tpsmm {kind} file ({error})") from None
