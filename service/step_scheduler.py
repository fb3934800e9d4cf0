"""Continuous batching for sampling recurrent models (characters, piano-roll frames): every live stream's next
step shares one onnxruntime call, and a stream joins or leaves the batch at any step. What a step samples and
what a client receives for it is the task's `Sampler` (service/tasks/<task>.py); the rest is here.

A recurrent state is fixed-size, so unlike a transformer's KV cache there is no paging: joining a
batch is stacking (L, 1, H) states along the batch axis, leaving is slicing them apart.

The step loop runs in a thread of its own, so it computes the next items while the event loop
sends the last ones (onnxruntime releases the GIL). Each stream may run at most `read_ahead`
items ahead of its client: a slow client pauses only its own stream (it skips steps, keeping
its state and its random generator untouched), and a client that leaves costs at most that much work.
A client takes what is ready at most every `flush_interval` seconds: a character model makes
thousands of characters a second, and one network write per character would cost more than the model.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Protocol

import numpy as np

from zoo.task import StatefulPredictor

log = logging.getLogger("bentoml.rnnzoo")

READ_AHEAD = 256  # items (characters, frames) a stream may be ahead of its client (above rate x flush interval)
FLUSH_INTERVAL = 0.005  # seconds between two hand-overs to one client: 200 writes/s, invisible to a reader


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 200
    temperature: float = 0.8
    top_k: int | None = 40
    top_p: float | None = None
    seed: int | None = None


class Sampler(Protocol):
    """A task's part of a step: what to draw from the scores, and what a client receives for it."""

    def sample(self, logits: np.ndarray, streams: list["Stream"]) -> np.ndarray:
        """(B, ...) scores, one row per stream -> (B, ...) the next inputs, drawn with each stream's rng and params."""

    def item(self, row: np.ndarray) -> Any:
        """One stream's drawn input -> what its client receives for this step (a character, a frame's pitches)."""


@dataclass(eq=False)
class Stream:
    params: SamplingParams
    rng: np.random.Generator
    logits: np.ndarray  # (V,) or (K,) scores of the next step
    state: list[np.ndarray]  # [(L, 1, H), ...]
    loop: asyncio.AbstractEventLoop  # the client's event loop, woken from the step thread
    deadline: float  # time.monotonic() past which the wall-clock cap ends the generation
    # Guarded by the scheduler's lock: the step thread appends, the client's coroutine drains.
    buffer: list[Any] = field(default_factory=list)
    waiter: asyncio.Future | None = None  # set while the client waits for items
    woken: asyncio.Future | None = None  # the waiter the step thread is about to wake
    produced: int = 0
    taken: int = 0  # items handed to the client
    finished: bool = False  # no more items will come
    cancelled: bool = False  # the client left (disconnect, or the iterator was closed)
    finish_reason: str = "length"  # "time_limit" when the wall-clock cap ended it; "error" if a step failed


@dataclass(frozen=True)
class StepMetrics:
    """One model's Prometheus series, labelled once (not per step): items produced, live streams, batch sizes."""
    items: Any  # Counter
    streams: Any  # Gauge
    step_batch: Any  # Histogram


class CapacityError(RuntimeError):
    """More live streams than the scheduler admits."""


def _wake(waiters: list[asyncio.Future]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)


class StepScheduler:
    """Owns the sampling streams of one model: prompts run on `executor`, steps on a thread of its own."""

    def __init__(self, predictor: StatefulPredictor, sampler: Sampler, executor: ThreadPoolExecutor, max_streams: int,
                 max_seconds: float, metrics: StepMetrics | None = None, read_ahead: int = READ_AHEAD,
                 flush_interval: float = FLUSH_INTERVAL):
        self.predictor = predictor
        self.sampler = sampler
        self.executor = executor  # prompts: a long prompt does not stall the steps of running streams
        self.max_streams = max_streams
        self.max_seconds = max_seconds
        self.read_ahead = read_ahead
        self.flush_interval = flush_interval
        self.lock = threading.Lock()
        self.work = threading.Event()  # set when a stream joins, a client takes items, or one leaves
        self.streams: list[Stream] = []
        self.pending = 0  # streams admitted whose prompt is still running
        self.closed = False
        self.thread: threading.Thread | None = None
        self.batch_sizes: deque[int] = deque(maxlen=10_000)  # of recent steps, for tests and benchmarks
        self.metrics = metrics

    async def start(self, prompt: np.ndarray, params: SamplingParams) -> Stream:
        """Admit a stream and run its prompt (T, ...), T >= 1, from the initial state; raises CapacityError before
        any work when full."""
        self._admit()
        loop = asyncio.get_running_loop()
        try:  # the prompt runs alone, one call of its own length; then the stream joins the step batch
            (logits,), state = await loop.run_in_executor(self.executor, self.predictor.step, prompt[None],
                                                          self.predictor.initial_state(1))
        except BaseException:
            with self.lock:
                self.pending -= 1
            raise
        return self._join(logits[0, -1], state, params, loop)

    def start_after(self, logits: np.ndarray, state: list[np.ndarray], params: SamplingParams) -> Stream:
        """Admit a stream that goes on from scores (V,) and state [(L, 1, H), ...] already computed (a
        session's); raises CapacityError when full."""
        self._admit()
        return self._join(logits, state, params, asyncio.get_running_loop())

    def _admit(self) -> None:
        """Count a new stream in (starting the step thread on first use), or raise CapacityError."""
        with self.lock:
            # Streams that finished (or were cancelled) no longer step, though the step thread may not have
            # dropped them yet: counting them refused a client that asked again the moment its answer came.
            running = sum(1 for stream in self.streams if not (stream.finished or stream.cancelled))
            if running + self.pending >= self.max_streams:
                raise CapacityError(f"{self.max_streams} generations are already running on "
                                    f"{self.predictor.name}; retry when one finishes")
            self.pending += 1
            if self.thread is None:
                self.thread = threading.Thread(target=self._step_loop, name=f"steps-{self.predictor.name}",
                                               daemon=True)
                self.thread.start()

    def _join(self, logits: np.ndarray, state: list[np.ndarray], params: SamplingParams,
              loop: asyncio.AbstractEventLoop) -> Stream:
        """An admitted stream (counted in `pending`) joins the step batch."""
        stream = Stream(params, np.random.default_rng(params.seed), logits, state, loop,
                        deadline=time.monotonic() + self.max_seconds)
        with self.lock:
            self.pending -= 1
            self.streams.append(stream)
        if self.metrics:
            self.metrics.streams.inc()
        self.work.set()
        return stream

    async def items(self, stream: Stream) -> AsyncIterator[list[Any]]:
        """The stream's items as they are produced, in chunks of one or more (everything ready
        when the client asks, at most every flush_interval); closing the iterator stops its work."""
        try:
            while True:
                with self.lock:
                    ready = list(stream.buffer)
                    if ready:
                        stream.buffer.clear()
                        was_paused = stream.produced - stream.taken >= self.read_ahead
                        stream.taken += len(ready)
                    elif stream.finished:
                        return
                    else:
                        stream.waiter = stream.loop.create_future()
                if not ready:
                    await stream.waiter
                    continue
                if was_paused:
                    self.work.set()
                yield ready
                if not stream.finished:  # let items gather rather than wake for each one
                    await asyncio.sleep(self.flush_interval)
        finally:
            stream.cancelled = True  # the client left or the text is complete: the step loop drops it
            self.work.set()

    def close(self) -> None:
        """Stop the step thread (tests; the service keeps its schedulers for its lifetime)."""
        self.closed = True
        self.work.set()

    def _step_loop(self) -> None:
        while not self.closed:
            now, waiting = time.monotonic(), []
            with self.lock:
                for stream in self.streams:  # the cap holds for paused streams too (_step checks the others),
                    paused = stream.produced - stream.taken >= self.read_ahead  # e.g. a client that left unread
                    if paused and not stream.finished and now > stream.deadline:
                        stream.finished, stream.finish_reason = True, "time_limit"
                        self._take_waiter(stream, waiting)
                left = [s for s in self.streams if s.cancelled or s.finished]
                if left:
                    self.streams = [s for s in self.streams if not (s.cancelled or s.finished)]
                ready = [s for s in self.streams if s.produced - s.taken < self.read_ahead]
                if not ready:
                    self.work.clear()  # under the lock: a later join, take or leave sets it again
                    next_deadline = min((s.deadline for s in self.streams), default=None)
            self._wake_clients(waiting)
            if left and self.metrics:
                self.metrics.streams.dec(len(left))
            if not ready:  # sleep until there is work, or until the next paused stream's deadline
                self.work.wait(None if next_deadline is None else max(0.0, next_deadline - time.monotonic()) + 0.01)
                continue
            try:
                self._step(ready)
            except Exception:  # never leave clients waiting on a dead thread
                log.exception("generation step failed for %d streams of %s", len(ready), self.predictor.name)
                waiting = []
                with self.lock:
                    for stream in ready:
                        if not stream.finished:  # those that ended normally in this step keep their reason
                            stream.finished, stream.finish_reason = True, "error"
                        self._take_waiter(stream, waiting)
                self._wake_clients(waiting)

    def _step(self, ready: list[Stream]) -> None:
        """Sample one item for each ready stream, hand it over, then one onnxruntime call for those
        still running."""
        drawn = self.sampler.sample(np.stack([s.logits for s in ready]), ready)  # (B, ...) the next inputs
        now = time.monotonic()
        running = np.zeros(len(ready), dtype=bool)
        waiting = []
        with self.lock:
            for row, stream in enumerate(ready):
                stream.buffer.append(self.sampler.item(drawn[row]))
                stream.produced += 1
                if stream.produced >= stream.params.max_new_tokens:
                    stream.finished = True
                elif now > stream.deadline:
                    stream.finished, stream.finish_reason = True, "time_limit"
                else:
                    running[row] = not stream.cancelled
                self._take_waiter(stream, waiting)
        self._wake_clients(waiting)
        if self.metrics:
            self.metrics.items.inc(len(ready))
        if not running.any():
            return
        # one call for every stream still running: inputs (B, 1, ...), states stacked on the batch axis
        batch = [stream for stream, run in zip(ready, running) if run]
        state = [np.concatenate([s.state[i] for s in batch], axis=1) for i in range(len(batch[0].state))]
        self.batch_sizes.append(len(batch))
        if self.metrics:
            self.metrics.step_batch.observe(len(batch))
        (logits,), new_state = self.predictor.step(drawn[running][:, None], state)
        for row, stream in enumerate(batch):  # (B, 1, ...) and [(L, B, H), ...] back to each stream
            stream.logits = logits[row, -1]
            stream.state = [s[:, row : row + 1] for s in new_state]

    @staticmethod
    def _take_waiter(stream: Stream, waiting: list[Stream]) -> None:
        """Collect a waiting client to wake once the lock is released (caller holds the lock)."""
        if stream.waiter is not None:
            stream.waiter, stream.woken = None, stream.waiter
            waiting.append(stream)

    @staticmethod
    def _wake_clients(streams: list[Stream]) -> None:
        """Wake the clients waiting on these streams: one call into each event loop, not one per stream."""
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
        for stream in streams:
            by_loop.setdefault(stream.loop, []).append(stream.woken)
        for loop, waiters in by_loop.items():
            try:
                loop.call_soon_threadsafe(_wake, waiters)
            except RuntimeError:  # that event loop is gone: nobody to wake
                pass
