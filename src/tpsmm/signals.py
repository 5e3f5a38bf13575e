"""Signals as exceptions: SIGTERM is a :class:`Terminated`, a ``KeyboardInterrupt``.

Python turns SIGINT (Ctrl-C) into ``KeyboardInterrupt``. SIGTERM, what ``timeout``,
systemd, Docker, Kubernetes and batch schedulers send, would end the process on the
spot; raised as :class:`Terminated` instead, it runs every ``except KeyboardInterrupt``
and ``finally`` as Ctrl-C does. The signal number tells the two apart
(:func:`signal_of`) and gives the shell's exit status (:func:`exit_status`: 130 for
SIGINT, 143 for SIGTERM).
"""

from __future__ import annotations

import signal

__all__ = ["Terminated", "describe", "exit_status", "signal_name", "signal_of"]


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by a signal (SIGTERM by default).

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
    """``"SIGTERM"`` for 15; ``"signal N"`` for a number without a name."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def signal_of(interrupt: BaseException) -> int:
    """The signal behind an interrupt: a :class:`Terminated`'s own, SIGINT for a plain
    ``KeyboardInterrupt``."""
    return interrupt.signum if isinstance(interrupt, Terminated) else int(signal.SIGINT)


def exit_status(interrupt: BaseException) -> int:
    """128 + the signal number: 130 for SIGINT, 143 for SIGTERM."""
    return 128 + signal_of(interrupt)


def describe(interrupt: BaseException) -> str:
    """``"interrupted"`` for SIGINT, ``"terminated (SIGTERM)"`` for another signal."""
    signum = signal_of(interrupt)
    return "interrupted" if signum == signal.SIGINT else f"terminated ({signal_name(signum)})"
