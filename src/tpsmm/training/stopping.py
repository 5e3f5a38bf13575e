"""Stopping a training run on SIGINT, SIGTERM or SIGHUP without losing the step it reached.

A step changes the weights, the optimizer states, BatchNorm statistics and the random
streams; stopped half-way, it would leave a state that no uninterrupted run ever had.
So while :class:`StopGuard` is active, a signal that arrives during a step (or the
bookkeeping at an epoch's end) is held back until the step is complete; one that arrives
between steps (while the next batch loads) stops the run at once. Either way the loop
then saves a checkpoint of exactly the steps done, and :class:`TrainingInterrupted`
ends the run; ``--resume`` continues from there as if nothing had happened. A second
signal changes nothing (an impatient Ctrl-C cannot cut the step or the save short); the
third stops at once, without saving the step in progress (the last checkpoint stays).

Under torchrun every process gets the signal, at slightly different moments: each
holds it back and the processes agree, through the all-reduce every step already does,
to stop after the same step (:meth:`StopGuard.agree`).

Handlers are installed only in the main thread; elsewhere the guard holds nothing back.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from tpsmm.signals import FORCE_AFTER, HANDLED, Terminated

__all__ = ["STOP_SIGNALS", "StopGuard", "TrainingInterrupted"]

#: The signals that stop a run cleanly: those every command handles (SIGINT, SIGTERM,
#: SIGHUP where the system has it). The signal count at which a step in progress is
#: abandoned (unsaved) is :data:`tpsmm.signals.FORCE_AFTER`.
STOP_SIGNALS: tuple[int, ...] = tuple(int(signum) for signum in HANDLED)


class TrainingInterrupted(Terminated):
    """A run stopped by a signal after saving the step it had reached.

    Attributes:
        signum: the signal (SIGINT, SIGTERM, SIGHUP).
        summary: where the run stopped and what it saved (a
            :class:`tpsmm.training.loop.TrainSummary`).
    """

    def __init__(self, signum: int, summary: Any) -> None:
        super().__init__(signum)
        self.summary = summary

    def __str__(self) -> str:
        summary = self.summary
        where = f"epoch {summary.epoch}, step {summary.global_step}"
        if summary.checkpoint is None:
            return f"stopped by {self.name} at {where}; nothing saved"
        return f"stopped by {self.name} at {where}; saved {summary.checkpoint}"


def interrupt_for(signum: int) -> KeyboardInterrupt:
    """``KeyboardInterrupt`` for SIGINT, :class:`Terminated` for another signal."""
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


class StopGuard:
    """Hold SIGINT, SIGTERM and SIGHUP back during training steps (a context manager).

    Args:
        distributed: several processes: a signal is never raised on its own, only
            after :meth:`agree` says every process saw a stop request.
    """

    def __init__(self, *, distributed: bool = False):
        self.distributed = distributed
        #: The first signal received (None: none).
        self.requested: int | None = None
        #: Signals received so far.
        self.received = 0
        #: The run was stopped in the middle of a step: its state is not consistent.
        self.abandoned = False
        self._critical = 0
        self._holding = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN:  # e.g. started under nohup
                    self._previous[signum] = previous
                    signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self._holding:
            return
        self.received += 1
        if self.requested is None:
            self.requested = signum
            if not self._critical and not self.distributed:
                raise interrupt_for(signum)  # between steps: the state is consistent
            return
        if self.received >= FORCE_AFTER:  # the user insists: stop now, unsaved
            self.abandoned = bool(self._critical) or self.distributed
            raise interrupt_for(signum)

    @contextmanager
    def critical(self) -> Iterator[None]:
        """A block that must not be cut (a step and its bookkeeping); a signal received
        in it is raised when it ends (single process), or after :meth:`agree`."""
        self._critical += 1
        try:
            yield
        finally:
            self._critical -= 1
        if not self._critical and not self.distributed and self.requested is not None:
            raise interrupt_for(self.requested)

    @contextmanager
    def hold(self) -> Iterator[None]:
        """A block during which further signals are ignored (the final checkpoint)."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False

    @property
    def stop_flag(self) -> float:
        """1.0 when this process has a stop request, for the step's all-reduce."""
        return 0.0 if self.requested is None else 1.0

    def agree(self, requests: float, signum: int = int(signal.SIGTERM)) -> None:
        """After a step's all-reduce: ``requests`` processes asked to stop; when any
        did, stop every process now (with this process's signal, else ``signum``)."""
        if requests > 0:
            raise interrupt_for(self.requested if self.requested is not None else signum)
