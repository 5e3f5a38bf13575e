"""Errors that reach users as one line of text.

Every failure a user can cause (a missing file, a foreign checkpoint, a bad config value)
raises a subclass of :class:`TPSMMError` whose message names the problem. The command
line prints that message on one line and exits with a non-zero status, without a
traceback; programming errors keep their tracebacks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


class TPSMMError(Exception):
    """A problem with the user's input, stated in one line."""


class ConfigError(TPSMMError, ValueError):
    """An unknown key or an invalid value in a configuration."""


class CheckpointError(TPSMMError):
    """A checkpoint that cannot be read, or does not fit the configuration."""


class MediaError(TPSMMError):
    """An image or video that is missing, unreadable or of the wrong kind."""


class DatasetError(TPSMMError):
    """A training or evaluation dataset that cannot be used."""


class OutputError(TPSMMError):
    """An output that cannot be written: no permission, a read-only or full file
    system, a path that is a file."""


class TPSMMWarning(UserWarning):
    """Something users should know that does not stop the work; the command line shows
    it as one line (``tpsmm COMMAND: warning: ...``, or the subclass's :attr:`label`)."""

    #: The word the command line puts before the message.
    label = "warning"


class TPSMMNotice(TPSMMWarning):
    """A choice tpsmm made that users may want to know of (which face it animates, a
    split left empty); the command line shows it as ``tpsmm COMMAND: note: ...``."""

    label = "note"


def first_line(error: BaseException, limit: int | None = 200) -> str:
    """The first line of an error's message (at most ``limit`` characters; None: all of
    it), or its class name when the message is empty: the reason in a one-line error."""
    text = str(error).strip()
    return text.splitlines()[0][:limit] if text else type(error).__name__


def describe_os_error(error: OSError, path: object = None) -> str:
    """One line for a failed file operation: ``"{path}: {reason}"``, e.g.
    ``"out/result.mp4: Permission denied"``.

    ``path`` defaults to the file the error names (both files of a failed rename); the
    reason is the system's (``strerror``), else the message's first line.
    """
    if path is None:
        names = [name for name in (error.filename, error.filename2) if name is not None]
        path = " -> ".join(map(str, names)) if names else None
    reason = error.strerror or first_line(error)
    return f"{path}: {reason}" if path is not None else reason


@contextlib.contextmanager
def named_in_errors(path: str | os.PathLike, name: str) -> Iterator[None]:
    """Messages of the :class:`TPSMMError` raised in the block name ``path`` as ``name``
    (a file the user knows by another name: an upload by the uploader's file name, a
    temporary copy by what it was copied from)."""
    try:
        yield
    except TPSMMError as error:
        message = str(error).replace(os.fspath(path), name)
        if message == str(error):
            raise
        raise type(error)(message) from None
