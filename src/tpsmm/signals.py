"""Signals as exceptions, so that every cleanup runs on Ctrl-C and on SIGTERM alike.

Python turns SIGINT into :class:`KeyboardInterrupt`; SIGTERM (what ``timeout``,
systemd, Docker, Kubernetes and batch schedulers send) and SIGHUP (a closed terminal)
would kill the process on the spot, leaving temporary outputs behind. After
:func:`install` they raise :class:`Terminated`, a subclass of ``KeyboardInterrupt``, so
every ``except KeyboardInterrupt``, ``finally`` and context-manager exit handles all of
them the same way::

    try:
        long_job()
    except KeyboardInterrupt as interrupt:   # Ctrl-C, SIGTERM or SIGHUP
        save_what_can_be_saved()
        raise

The ``tpsmm`` command installs the handlers before its heavy imports, and ends with one
line and the status of :func:`exit_status` (130 for SIGINT, 143 for SIGTERM, 129 for
SIGHUP). Further signals that arrive while the first one unwinds the program are held
back, so a second Ctrl-C cannot cut a cleanup short; the third ends the process at once.

:func:`deferred` holds signals back around a short critical section (two renames that
must both happen, a checkpoint being written) and raises the first one at its end.

Handlers can only be set from the main thread; elsewhere :func:`install` and
:func:`deferred` do nothing (signals are delivered to the main thread anyway).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

__all__ = [
    "FORCE_AFTER",
    "HANDLED",
    "Terminated",
    "default_at_exit",
    "deferred",
    "describe",
    "exit_status",
    "ignore_in_worker",
    "install",
    "raise_received",
    "received",
    "restore",
    "signal_name",
    "signal_of",
]

#: The signals :func:`install` turns into exceptions (SIGHUP where the system has it).
HANDLED: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: Signals received while unwinding after which the process exits without cleaning up.
FORCE_AFTER = 3


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM, SIGHUP; SIGINT too when
    raised by :func:`install`'s handler).

    A ``KeyboardInterrupt``, so code written for Ctrl-C cleans up for it as well.

    Attributes:
        signum: the signal number, e.g. ``signal.SIGTERM`` (15).
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)
        self.signum = int(signum)

    @property
    def name(self) -> str:
        """The signal's name, e.g. ``"SIGTERM"``."""
        return signal_name(self.signum)

    def __str__(self) -> str:
        return f"terminated by {self.name}"


def signal_name(signum: int) -> str:
    """``"SIGTERM"`` for 15, ...; ``"signal N"`` for numbers without a name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def signal_of(interrupt: BaseException) -> int:
    """The signal number behind an interrupt: its own for :class:`Terminated`, SIGINT
    for a plain ``KeyboardInterrupt``."""
    return interrupt.signum if isinstance(interrupt, Terminated) else int(signal.SIGINT)


def exit_status(interrupt: BaseException) -> int:
    """The shell's status for a process ended by this interrupt: 128 + the signal
    number (130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + signal_of(interrupt)


def describe(interrupt: BaseException) -> str:
    """``"interrupted"`` for Ctrl-C, ``"terminated (SIGTERM)"`` for SIGTERM, ..."""
    signum = signal_of(interrupt)
    if signum == signal.SIGINT:
        return "interrupted"
    return f"terminated ({signal_name(signum)})"


class _State:
    """What the handler needs to know: nesting of :func:`deferred`, held signal, count."""

    def __init__(self) -> None:
        self.installed = False
        self.deferring = 0
        self.held: int | None = None
        self.raised = 0
        self.first: int | None = None


_state = _State()


def _handler(signum: int, frame: FrameType | None) -> None:
    """Raise :class:`Terminated` for the first signal; hold back those that follow."""
    if _state.deferring:
        if _state.held is None:
            _state.held = signum
        return
    if _state.raised:
        _state.raised += 1
        if _state.raised >= FORCE_AFTER:
            os._exit(128 + signum)
        return
    _state.raised = 1
    _state.first = signum
    raise Terminated(signum)


def ignore_in_worker(worker_id: int = 0) -> None:
    """Ignore the handled signals in a worker process that its parent stops (a
    DataLoader's ``worker_init_fn``).

    A terminal's Ctrl-C reaches the whole foreground process group, ``kill -- -PGID``
    and systemd's stop (every process of the unit) reach the workers too: killed, a
    worker would fail the parent's next batch with a traceback before the parent could
    save and end cleanly. Ignoring them, the worker lives until the parent, which
    handles the signal, shuts it down (or, were the parent killed, until it sees the
    parent gone).
    """
    del worker_id
    for signum in HANDLED:
        signal.signal(signum, signal.SIG_IGN)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


Handlers = dict[int, Any]


def install() -> Handlers:
    """Turn SIGINT, SIGTERM and SIGHUP into :class:`Terminated` (a ``KeyboardInterrupt``).

    A signal the process was started with ignored (``nohup``, a background job of a
    non-interactive shell) stays ignored. Outside the main thread it does nothing.
    Calling it again resets the count of signals received.

    Returns:
        The handlers it replaced, for :func:`restore` (empty outside the main thread).
    """
    if not _in_main_thread():
        return {}
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, _handler)
    _state.installed = True
    _state.raised = 0
    _state.first = None
    return previous


def received() -> int | None:
    """The signal that :func:`install`'s handler raised as :class:`Terminated` since
    :func:`install` (None: none yet).

    For code that sees another error come out where the signal was raised: some C
    extensions swallow the exception and fail their own way (numpy, interrupted while
    it is being imported, raises an ImportError).
    """
    return _state.first


def raise_received() -> None:
    """Raise :class:`Terminated` again for the signal :func:`received` names, if any.

    For a call that failed with ``EINTR`` or another error of its own after the handler
    ran inside it: PyAV's ``av.open`` of a FIFO or a slow network file raises
    ``InterruptedError`` in place of the handler's exception. With no signal received the
    caller goes on (retries the call, as Python does for ``EINTR``).
    """
    if _state.first is not None:
        raise Terminated(_state.first)


def default_at_exit(previous: Handlers) -> None:
    """For a program whose work is done and that is about to exit: flush stdout and
    stderr, then give the signals :func:`install` handled back their system default, so
    that one arriving while the interpreter shuts down (atexit callbacks, finalizers)
    ends the process the usual way - killed by it, status 128 + n in a shell, nothing
    printed - instead of raising inside the shutdown, where Python prints "Exception
    ignored ..." and exits with status 0. Signals that were ignored stay ignored.

    Args:
        previous: what :func:`install` returned.
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):  # closed, or none
            stream.flush()
    for signum, handler in previous.items():
        if handler is not signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)


def restore(previous: Handlers) -> None:
    """Put back the handlers :func:`install` returned (for code that calls the command
    line's ``main`` from Python and goes on afterwards)."""
    for signum, handler in previous.items():
        signal.signal(signum, handler)
    if previous:
        _state.installed = False
        _state.first = None


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP back for the duration of the block, then raise
    the first one that arrived (as :class:`Terminated`) when the block ends.

    Keep the block short: the user waits for it. Nests; in a thread other than the main
    one it holds nothing back (signals are handled by the main thread).
    """
    if not _in_main_thread():
        yield
        return
    # A library caller without install(): handle the signals for this block only.
    previous = None if _state.installed else install()
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
        held = _state.held if _state.deferring == 0 else None
        if _state.deferring == 0:
            _state.held = None
        if previous is not None:
            restore(previous)
        if held is not None:
            _release(held, previous)


def _release(signum: int, previous: Handlers | None) -> None:
    """Deliver a signal held back by :func:`deferred`."""
    if previous is None:
        _handler(signum, None)
        return
    handler = previous.get(signum)
    if callable(handler):
        handler(signum, None)
    elif handler is signal.SIG_DFL:
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        os.kill(os.getpid(), signum)
