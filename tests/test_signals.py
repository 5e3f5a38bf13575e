"""tpsmm.signals in this process: real signals sent with os.kill to ourselves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tpsmm import signals


@pytest.fixture
def handlers():
    """Install the handlers for one test; restore pytest's afterwards. A signal the
    runner inherited ignored (SIGHUP under nohup) is handled for the test too."""
    saved = {signum: signal.getsignal(signum) for signum in signals.HANDLED}
    for signum, handler in saved.items():
        if handler is signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)
    signals.install()
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)
    signals._state.__init__()


def send(signum: int) -> None:
    """Deliver ``signum`` to this process; the handler runs before os.kill returns."""
    os.kill(os.getpid(), signum)


@pytest.mark.usefixtures("handlers")
@pytest.mark.parametrize(
    ("signum", "status", "text"),
    [
        (signal.SIGTERM, 143, "terminated (SIGTERM)"),
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGHUP, 129, "terminated (SIGHUP)"),
    ],
)
def test_signal_raises_terminated_a_keyboard_interrupt(signum, status, text):
    with pytest.raises(KeyboardInterrupt) as caught:
        send(signum)
    assert isinstance(caught.value, signals.Terminated)
    assert caught.value.signum == signum
    assert signals.exit_status(caught.value) == status
    assert signals.describe(caught.value) == text


def test_plain_keyboard_interrupt_is_sigint():
    assert signals.exit_status(KeyboardInterrupt()) == 130
    assert signals.describe(KeyboardInterrupt()) == "interrupted"
    assert str(signals.Terminated(signal.SIGTERM)) == "terminated by SIGTERM"


@pytest.mark.usefixtures("handlers")
def test_cleanup_runs_and_repeated_signals_do_not_cut_it_short():
    steps = []
    with pytest.raises(signals.Terminated):
        try:
            send(signal.SIGTERM)
        finally:
            send(signal.SIGINT)  # a second signal while unwinding is held back
            steps.append("cleaned up")
    assert steps == ["cleaned up"]


@pytest.mark.usefixtures("handlers")
def test_deferred_holds_the_signal_until_the_block_ends():
    steps = []
    with pytest.raises(signals.Terminated) as caught, signals.deferred():
        send(signal.SIGTERM)
        steps.append("first rename")
        send(signal.SIGINT)  # only the first one is delivered
        steps.append("second rename")
    assert steps == ["first rename", "second rename"]
    assert caught.value.signum == signal.SIGTERM


def test_deferred_without_install_restores_the_previous_handlers():
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt), signals.deferred():
        send(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before
    signals._state.__init__()


def test_ignored_signal_stays_ignored_and_third_signal_forces_exit():
    """In a child: SIGHUP ignored before install stays ignored; after the first SIGTERM
    is raised, the third signal ends the process at once (status 128 + signal)."""
    code = textwrap.dedent(
        """
        import os, signal, sys
        from tpsmm import signals
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signals.install()
        os.kill(os.getpid(), signal.SIGHUP)
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except signals.Terminated:
            os.kill(os.getpid(), signal.SIGINT)
            print("held", flush=True)
            os.kill(os.getpid(), signal.SIGINT)
            print("not reached", flush=True)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout == "held\n", result.stderr
    assert result.returncode == 130


def test_the_command_line_module_imports_no_torch():
    """The handlers go in before torch loads: importing tpsmm.cli must stay light."""
    code = (
        "import sys, tpsmm, tpsmm.cli; print(sorted({'torch', 'av', 'numpy'} & set(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr


def test_lazy_package_names():
    import tpsmm

    assert set(tpsmm.__all__) == set(tpsmm._EXPORTS)
    assert all(getattr(tpsmm, name) is not None for name in tpsmm.__all__)
    with pytest.raises(AttributeError):
        _ = tpsmm.not_a_name


@pytest.mark.parametrize(
    ("signum", "outcome"), [(signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, None)]
)
def test_main_called_from_python_passes_the_signal_on(signum, outcome):
    """tpsmm.cli.main(argv) from a Python program: the command stops with its line, then
    the program gets the signal as it would have without tpsmm (Ctrl-C: a
    KeyboardInterrupt; SIGTERM: its default, the end of the process)."""
    code = textwrap.dedent(
        f"""
        import os, signal, sys, threading
        import tpsmm.cli
        threading.Timer(0.3, lambda: os.kill(os.getpid(), {int(signum)})).start()
        try:
            tpsmm.cli.main(["animate", "--source", "face.png"])
        except KeyboardInterrupt:
            print("KeyboardInterrupt", flush=True)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr.splitlines()[-1].startswith("tpsmm animate: ")
    if outcome is None:
        assert result.returncode == -signum and result.stdout == ""
    else:
        assert result.stdout == f"{outcome}\n" and result.returncode == 0


def test_a_signal_that_c_code_turns_into_another_error_still_ends_in_one_line():
    """numpy interrupted while it is being imported swallows the signal's exception and
    raises ImportError: the command still ends with its one line and 143."""
    code = textwrap.dedent(
        """
        import signal, sys
        import tpsmm.cli

        def interrupted_import():
            try:
                signal.raise_signal(signal.SIGTERM)
            except KeyboardInterrupt:
                raise ImportError("PyCapsule_Import could not import module 'datetime'")

        tpsmm.cli.build_parser = interrupted_import
        sys.exit(tpsmm.cli.main())
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stderr == "tpsmm: terminated (SIGTERM)\n"
    assert result.returncode == 143
    assert signals.received() is None  # this process installed nothing


def test_a_signal_that_pyav_turns_into_interrupted_error_stops_the_reader(tmp_path):
    """Opening a FIFO blocks in FFmpeg; the signal comes back from PyAV as
    InterruptedError, and the reader raises the signal instead (no second open)."""
    fifo = tmp_path / "slow.mp4"
    os.mkfifo(fifo)
    code = textwrap.dedent(
        f"""
        import os, signal, threading
        from tpsmm import signals
        from tpsmm.media import VideoReader
        signals.install()
        threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGTERM)).start()
        try:
            VideoReader({str(fifo)!r})
        except signals.Terminated as stop:
            print(stop, flush=True)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.stdout == "terminated by SIGTERM\n", result.stderr
