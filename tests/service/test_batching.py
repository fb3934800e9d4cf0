"""The in-process request batcher: merging, order, limits, failures, and the batching-off switch."""
import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.batching import Overloaded, RequestBatcher


def doubling_batcher(merge=True, max_batch=8, max_queued=64, gate: threading.Event | None = None):
    calls = []

    def run(rows):
        if gate is not None:
            gate.wait(5)
        calls.append(list(rows))
        return [2 * row for row in rows]

    return RequestBatcher(run, ThreadPoolExecutor(1), max_batch, max_queued, merge=merge), calls


def test_requests_that_wait_behind_a_call_are_merged_and_answered_in_order():
    gate = threading.Event()
    batcher, calls = doubling_batcher(gate=gate)

    async def scenario():
        first = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.05)  # the first call is running (held at the gate)
        rest = [asyncio.ensure_future(batcher.submit([10 * i, 10 * i + 1])) for i in range(1, 4)]
        await asyncio.sleep(0.05)
        gate.set()
        return await first, await asyncio.gather(*rest)

    first, rest = asyncio.run(scenario())
    assert first == [2] and rest == [[20, 22], [40, 42], [60, 62]]
    assert calls == [[1], [10, 11, 20, 21, 30, 31]]
    assert list(batcher.batch_sizes) == [1, 6]


def test_a_batch_holds_whole_requests_up_to_the_row_limit():
    gate = threading.Event()
    batcher, calls = doubling_batcher(max_batch=4, gate=gate)

    async def scenario():
        first = asyncio.ensure_future(batcher.submit([0]))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(batcher.submit(rows)) for rows in ([1, 2], [3, 4], [5, 6, 7, 8, 9])]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(first, *rest)

    asyncio.run(scenario())
    # [1, 2] + [3, 4] fill 4 rows; the 5-row request is larger than a batch and runs alone, never split
    assert calls == [[0], [1, 2, 3, 4], [5, 6, 7, 8, 9]]


def test_batching_off_runs_one_request_per_call():
    gate = threading.Event()
    batcher, calls = doubling_batcher(merge=False, gate=gate)

    async def scenario():
        futures = [asyncio.ensure_future(batcher.submit([i])) for i in range(4)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(*futures)

    assert asyncio.run(scenario()) == [[0], [2], [4], [6]]
    assert calls == [[0], [1], [2], [3]]


def test_a_full_queue_refuses_at_once_and_recovers():
    gate = threading.Event()
    batcher, _ = doubling_batcher(max_queued=4, gate=gate)

    async def scenario():
        running = asyncio.ensure_future(batcher.submit([1]))
        await asyncio.sleep(0.05)  # running, so no longer queued
        waiting = asyncio.ensure_future(batcher.submit([2, 3, 4]))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded, match="3 rows are waiting for this model, the most it queues is 4"):
            await batcher.submit([5, 6])
        gate.set()
        assert await running == [2] and await waiting == [4, 6, 8]
        return await batcher.submit([5, 6])

    assert asyncio.run(scenario()) == [10, 12]


def test_a_failing_call_fails_its_requests_and_the_next_ones_still_run():
    def run(rows):
        if 0 in rows:
            raise ValueError("bad row")
        return rows

    batcher = RequestBatcher(run, ThreadPoolExecutor(1), 8, 64)

    async def scenario():
        with pytest.raises(ValueError, match="bad row"):
            await batcher.submit([0])
        return await batcher.submit([7])

    assert asyncio.run(scenario()) == [7]
    assert batcher.queued_rows == 0
