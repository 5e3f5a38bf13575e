"""The one thread that runs the web server's PyTorch work: loading the models, the
Animate tab's requests and (with one frame worker) the Live tab's frames.

Why one thread: PyTorch's CPU build runs its parallel operations on OpenMP (GNU
libgomp), which gives every thread that starts one a team of worker threads of its
own, kept as long as that thread lives. Once the threads of all teams outnumber the
cores, libgomp stops spinning between parallel regions and its threads sleep after
each one; every region (hundreds per frame) then waits for them to wake. Measured on 2
cores (benchmarks/RESULTS.md, "Live animation"): a frame of the bundled model takes 44
ms on a thread whose team is the only one, and 70 ms, as slow as one thread, while
another thread that once ran a single parallel operation is alive. So the models are
loaded, the Animate tab's requests run (on Gradio's worker threads a request took 1.6x
as long: the sample, 13.5 s against 7 s) and, with one frame worker, the live frames
animated here, and the server's other threads (uvicorn's, the main thread) start no
team. With several frame workers (2 or 3 cores) the live frames run on threads of one
PyTorch thread each, which start no team either (:func:`one_thread_workers`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

import torch

P = ParamSpec("P")
T = TypeVar("T")


class ComputeThread:
    """A single worker thread that runs calls one at a time, in the caller's context
    (its context variables are copied)."""

    def __init__(self, name: str = "tpsmm-compute"):
        self._executor = ThreadPoolExecutor(1, thread_name_prefix=name)

    def call(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``function`` on the thread and wait for its result (or its exception)."""
        context = contextvars.copy_context()
        return self._executor.submit(context.run, function, *args, **kwargs).result()

    async def call_async(self, function: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``function`` on the thread without blocking the event loop."""
        context = contextvars.copy_context()
        bound = functools.partial(context.run, function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, bound)

    def close(self) -> None:
        """Let the running call finish, drop the waiting ones, end the thread."""
        self._executor.shutdown(wait=True, cancel_futures=True)


#: PyTorch thread counts at which live frames are animated several at once, one per
#: core, rather than one at a time on every core (:func:`live_frame_workers`).
PARALLEL_FRAME_THREADS = (2, 3)


def live_frame_workers(threads: int) -> int:
    """Frames the Live tab animates at once on a CPU where PyTorch runs ``threads``.

    On 2 or 3 cores, one frame per core, each on one PyTorch thread: a 128x128 frame
    parallelises poorly over a few cores (its operations are small and each ends in a
    wait for every thread, a long one whenever the browser on the same machine holds a
    core), while frames side by side do not wait on each other. Measured on 2 cores
    with the bundled model (benchmarks/RESULTS.md, "Live animation"). With more cores,
    one frame at a time on all of them keeps the latency low.
    """
    return threads if threads in PARALLEL_FRAME_THREADS else 1


def one_thread_workers(count: int, name: str) -> ThreadPoolExecutor:
    """``count`` worker threads, started now, whose PyTorch work runs on one thread
    each; the other threads of the process keep PyTorch's thread count.

    PyTorch's thread count is the process's, but each thread takes it once, when it
    first runs PyTorch, and keeps its own afterwards: each worker takes it, then sets
    one (which sets the process's too), and the process's count is set back once all
    have started. Threads started meanwhile would take one thread too: call this
    before the server takes requests.
    """
    threads = torch.get_num_threads()

    def one_thread() -> None:
        torch.get_num_threads()  # this thread takes the process's count now ...
        torch.set_num_threads(1)  # ... then one thread of its own

    pool = ThreadPoolExecutor(count, thread_name_prefix=name, initializer=one_thread)
    started = threading.Barrier(count)
    list(pool.map(lambda _: started.wait(), range(count)))
    torch.set_num_threads(threads)
    return pool
