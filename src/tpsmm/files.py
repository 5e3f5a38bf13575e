"""Where tpsmm writes: finding out, before the slow work, that an output can be written.

Every command checks its output location first (:func:`check_writable_folder`), so that
a folder without write permission, a read-only or full file system, or a path that is a
file is one line naming the path, before a model is loaded or a frame computed. Failures
that only show later (a disk that fills up during a job) are reported by the writers the
same way (:func:`write_error`). Nothing heavy is imported here.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from pathlib import Path

from tpsmm.errors import OutputError, describe_os_error

#: Bytes written (and removed) to find a full file system before the work.
PROBE_BYTES = 4096


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
