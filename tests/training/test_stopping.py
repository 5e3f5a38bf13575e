"""StopGuard: signals during a step wait for its end, between steps they stop at once;
several processes stop after the step they agree on; a third signal abandons the step."""

from __future__ import annotations

import os
import signal

import pytest

from tpsmm.signals import Terminated, exit_status
from tpsmm.training.stopping import StopGuard


def send(signum: int) -> None:
    os.kill(os.getpid(), signum)


def test_a_signal_during_a_step_waits_for_its_end():
    done = []
    with StopGuard() as guard, pytest.raises(Terminated) as caught, guard.critical():
        send(signal.SIGTERM)
        done.append("rest of the step")
    assert done == ["rest of the step"] and not guard.abandoned
    assert caught.value.signum == signal.SIGTERM and exit_status(caught.value) == 143


def test_between_steps_a_signal_stops_at_once():
    with StopGuard(), pytest.raises(KeyboardInterrupt) as caught:
        send(signal.SIGINT)
    assert not isinstance(caught.value, Terminated) and exit_status(caught.value) == 130


def test_a_second_signal_changes_nothing_and_a_third_abandons_the_step():
    with StopGuard() as guard, pytest.raises(KeyboardInterrupt), guard.critical():
        send(signal.SIGINT)
        send(signal.SIGINT)
        assert not guard.abandoned
        send(signal.SIGINT)
    assert guard.abandoned


def test_several_processes_stop_after_the_agreed_step():
    with StopGuard(distributed=True) as guard:
        send(signal.SIGTERM)  # between steps: held, the others must agree first
        with guard.critical():
            pass
        assert guard.stop_flag == 1.0
        with pytest.raises(Terminated):
            guard.agree(1.0)
    other = StopGuard(distributed=True)
    other.agree(0.0)  # nobody asked
    with pytest.raises(Terminated):
        other.agree(1.0)  # another process asked: stop too


def test_handlers_are_restored_and_holding_ignores_signals():
    before = signal.getsignal(signal.SIGTERM)
    with StopGuard() as guard:
        assert signal.getsignal(signal.SIGTERM) != before
        with guard.hold():
            send(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before
