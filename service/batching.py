"""Adaptive batching inside the serving process: the rows (texts, price windows, stays) of requests that
arrive while a model call runs are merged into the next call.

Why not a separate BentoML batching worker: on this 2-core machine its HTTP hop cost as much CPU as the
front end itself (a profile under 64 concurrent clients had onnxruntime at 11% of the worker's time, the
rest framework), and the service peaked at 450-550 requests/s. Here the merge costs a list append, the
model runs on one onnxruntime thread (which releases the GIL, so the event loop keeps parsing requests on
the other core), and the batch size adapts to load with no timer: an idle model runs a lone request at
once; a busy one collects everything that queued behind its current call (continuous batching).
"""
from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Generic, Sequence, TypeVar

Row = TypeVar("Row")
Result = TypeVar("Result")


class Overloaded(RuntimeError):
    """More rows wait than the batcher admits; the client should retry later (HTTP 503)."""


class RequestBatcher(Generic[Row, Result]):
    """Merges the rows of concurrent requests for one model into calls of at most `max_batch` rows.

    `run(rows) -> results` (one per row, in order) runs on `executor`. With `merge=False` every request
    runs alone (the "batching off" configuration the benchmarks compare against). A request whose rows
    would push the queue past `max_queued` rows is refused at once with Overloaded, rather than waiting
    behind work it cannot finish before its client gives up.
    """

    def __init__(self, run: Callable[[list[Row]], Sequence[Result]], executor: ThreadPoolExecutor,
                 max_batch: int, max_queued: int, merge: bool = True, observe: Callable[[int], None] | None = None):
        self.run, self.executor, self.max_batch, self.max_queued = run, executor, max_batch, max_queued
        self.merge, self.observe = merge, observe
        self.pending: deque[tuple[list[Row], asyncio.Future]] = deque()
        self.queued_rows = 0
        self.draining = False
        self.batch_sizes: deque[int] = deque(maxlen=10_000)  # rows per call, for tests and benchmarks

    async def submit(self, rows: list[Row]) -> list[Result]:
        if self.queued_rows + len(rows) > self.max_queued:
            raise Overloaded(f"{self.queued_rows} rows are waiting for this model, the most it queues is "
                             f"{self.max_queued}; retry shortly")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((rows, future))
        self.queued_rows += len(rows)
        if not self.draining:
            self.draining = True
            loop.create_task(self._drain())
        return await future

    def _next_batch(self) -> list[tuple[list[Row], asyncio.Future]]:
        """Whole requests, oldest first, up to max_batch rows (a larger single request goes alone)."""
        batch = [self.pending.popleft()]
        rows = len(batch[0][0])
        while self.merge and self.pending and rows + len(self.pending[0][0]) <= self.max_batch:
            request = self.pending.popleft()
            batch.append(request)
            rows += len(request[0])
        return batch

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                batch = self._next_batch()
                rows = [row for request_rows, _ in batch for row in request_rows]
                self.queued_rows -= len(rows)
                self.batch_sizes.append(len(rows))
                if self.observe:
                    self.observe(len(rows))
                try:
                    results = await loop.run_in_executor(self.executor, self.run, rows)
                except Exception as error:  # every waiting request hears of it; none waits forever
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                start = 0
                for request_rows, future in batch:
                    if not future.done():  # a client that left has a cancelled future
                        future.set_result(list(results[start : start + len(request_rows)]))
                    start += len(request_rows)
        finally:
            self.draining = False
