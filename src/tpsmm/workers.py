"""Worker processes that end with the command: a function run over tasks in parallel.

``multiprocessing.Pool`` leaves the command's signals to chance: Ctrl-C in a terminal and
``kill -- -PGID`` (``timeout``, systemd) reach every process of the group, so each
worker prints its own ``KeyboardInterrupt`` traceback, and a worker killed in the middle
of a task leaves the pool waiting for its result forever. Here:

- the workers ignore SIGINT, SIGTERM and SIGHUP (:func:`tpsmm.signals.ignore_in_worker`)
  and are killed by the parent when it stops (SIGKILL: nothing of theirs is kept, the
  caller removes their partial output), so the parent alone says what stopped it;
- a worker that dies (killed, out of memory) ends the run with an error naming its task,
  never a hang;
- a worker whose parent dies is killed by the system (Linux) or ends at its next task;
- an exception in a task is raised again in the parent (a :class:`TPSMMError` as it is).

>>> for result in run_in_processes(work, tasks, jobs=4):
...     ...   # in the order they finish
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import queue
import signal
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

from tpsmm.errors import TPSMMError
from tpsmm.signals import ignore_in_worker

Task = TypeVar("Task")
Result = TypeVar("Result")

#: How often the parent looks at its workers while waiting for a result (seconds).
POLL_SECONDS = 0.5
_LINUX_PR_SET_PDEATHSIG = 1


def run_in_processes(
    function: Callable[[Task], Result],
    tasks: Sequence[Task],
    jobs: int,
    *,
    initializer: Callable[[], None] | None = None,
    describe: Callable[[Task], str] = str,
) -> Iterator[Result]:
    """``function(task)`` of every task, in ``jobs`` spawned worker processes, yielded
    as they finish. ``function``, the tasks and the results must pickle; ``initializer``
    runs once in each worker.

    Stopping the iteration (an exception, a signal in the parent) kills the workers.

    Raises:
        TPSMMError: a worker died; ``describe(task)`` names its task.
        Exception: what ``function`` raised in a worker, raised again here.
    """
    jobs = max(1, min(jobs, len(tasks)))
    context = multiprocessing.get_context("spawn")
    todo: Any = context.Queue()
    done: Any = context.Queue()
    for item in enumerate(tasks):
        todo.put(item)
    for _ in range(jobs):
        todo.put(None)
    workers = [
        context.Process(
            target=_work, args=(function, initializer, todo, done, os.getpid()), daemon=True
        )
        for _ in range(jobs)
    ]
    started: dict[int, int] = {}  # worker pid -> index of the task it works on
    try:
        for worker in workers:
            worker.start()
        remaining = len(tasks)
        while remaining:
            try:
                kind, index, payload = done.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _check_alive(workers, started, tasks, describe)
                continue
            if kind == "started":
                started[payload] = index
            elif kind == "failed":
                raise payload
            else:
                remaining -= 1
                yield payload
    finally:
        _stop(workers, todo, done)


def _work(
    function: Callable[[Any], Any],
    initializer: Callable[[], None] | None,
    todo: Any,
    done: Any,
    parent: int,
) -> None:
    """A worker's loop: tasks until the sentinel, each announced, then its result."""
    ignore_in_worker()
    _die_with_parent()
    if initializer is not None:
        initializer()
    while os.getppid() == parent:
        try:
            item = todo.get(timeout=POLL_SECONDS)
        except queue.Empty:
            continue
        if item is None:
            return
        index, task = item
        done.put(("started", index, os.getpid()))
        try:
            result = function(task)
        except BaseException as error:  # raised again in the parent
            done.put(("failed", index, _picklable(error)))
            return
        done.put(("done", index, result))


def _picklable(error: BaseException) -> BaseException:
    """``error`` if it survives pickling (TPSMMError does), else a RuntimeError holding
    the worker's traceback."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        text = "".join(traceback.format_exception(error))
        return RuntimeError(f"in a worker process:\n{text}")
    return error


def _die_with_parent() -> None:
    """Ask Linux to kill this process when its parent dies (elsewhere: nothing)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_LINUX_PR_SET_PDEATHSIG, signal.SIGKILL)


def _check_alive(
    workers: Iterable[Any],
    started: dict[int, int],
    tasks: Sequence[Any],
    describe: Callable[[Any], str],
) -> None:
    """Raise TPSMMError when a worker died before finishing its task."""
    for worker in workers:
        if worker.exitcode not in (None, 0):
            index = started.get(worker.pid)
            what = f" on {describe(tasks[index])}" if index is not None else ""
            code = worker.exitcode
            how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
            raise TPSMMError(f"a worker process died{what} ({how})")


def _stop(workers: Iterable[Any], todo: Any, done: Any) -> None:
    """Kill the workers still running, wait for them, release the queues."""
    for worker in workers:
        if worker.pid is not None and worker.exitcode is None:
            with contextlib.suppress(OSError):
                worker.kill()
    for worker in workers:
        if worker.pid is not None:
            worker.join()
    for channel in (todo, done):
        channel.cancel_join_thread()  # what is left in the pipe is not waited for
        channel.close()
