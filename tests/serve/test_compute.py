"""The web server's compute thread and frame workers (tpsmm.serve.compute)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
import torch

from tpsmm.serve.compute import ComputeThread, live_frame_workers, one_thread_workers

REQUEST = contextvars.ContextVar("REQUEST", default=None)


def test_calls_run_one_at_a_time_on_one_thread_in_the_callers_context():
    compute = ComputeThread("test-compute")
    try:
        token = REQUEST.set("page 1")
        try:
            seen = [compute.call(lambda: (threading.get_ident(), REQUEST.get())) for _ in range(3)]
        finally:
            REQUEST.reset(token)
        assert len({ident for ident, _ in seen}) == 1
        assert seen[0][0] != threading.get_ident()
        assert {request for _, request in seen} == {"page 1"}  # e.g. Gradio's progress

        async def from_a_loop():
            return await compute.call_async(lambda: threading.get_ident())

        assert asyncio.run(from_a_loop()) == seen[0][0]
        with pytest.raises(ValueError, match="bad"):
            compute.call(int, "bad")
    finally:
        compute.close()


def test_frame_workers_by_core_count():
    assert [live_frame_workers(threads) for threads in (1, 2, 3, 4, 16)] == [1, 2, 3, 1, 1]


def test_one_thread_workers_leave_the_others_their_thread_count():
    threads = torch.get_num_threads()
    pool = one_thread_workers(2, "test-frame")
    try:
        assert sorted(pool.map(lambda _: torch.get_num_threads(), range(4))) == [1] * 4
        assert torch.get_num_threads() == threads
    finally:
        pool.shutdown()
