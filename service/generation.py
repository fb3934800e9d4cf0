"""Continuous batching for text generation: every live stream's next-character step shares one
onnxruntime call, and a stream joins or leaves the batch at any step.

A recurrent state is fixed-size, so unlike a transformer's KV cache there is no paging: joining a
batch is stacking (L, 1, H) states along the batch axis, leaving is slicing them apart.
"""
from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import AsyncIterator

import numpy as np

from zoo.runtime import CharGenerator
from zoo.sampling import next_token


@dataclass(frozen=True)
class SamplingParams:
    max_new_tokens: int = 200
    temperature: float = 0.8
    top_k: int | None = 40
    top_p: float | None = None
    seed: int | None = None


@dataclass
class Stream:
    params: SamplingParams
    rng: np.random.Generator
    logits: np.ndarray  # (V,) scores for the next character
    state: list[np.ndarray]  # [(L, 1, H), ...]
    characters: asyncio.Queue = field(default_factory=asyncio.Queue)  # str per character, None at the end
    produced: int = 0
    cancelled: bool = False
    finish_reason: str = "length"  # or "time_limit" when the wall-clock cap ended it


class GenerationMetrics:
    """Prometheus series for /metrics. Made inside the worker, after BentoML has set up the
    multiprocess directory, so that every worker's numbers reach the endpoint."""

    def __init__(self):
        import prometheus_client

        self.characters = prometheus_client.Counter(
            "rnnzoo_generated_characters", "characters generated", ["model"])
        self.streams = prometheus_client.Gauge(
            "rnnzoo_generation_streams", "live generation streams", ["model"], multiprocess_mode="livesum")
        self.step_batch = prometheus_client.Histogram(
            "rnnzoo_generation_step_batch_size", "streams stepped by one onnxruntime call", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64))


class CapacityError(RuntimeError):
    """More live streams than the scheduler admits."""


class StepScheduler:
    """Owns the generation sessions' step loop for one model; one background task per scheduler."""

    def __init__(self, generator: CharGenerator, executor: ThreadPoolExecutor, max_streams: int,
                 max_seconds: float, metrics: GenerationMetrics | None = None):
        self.generator = generator
        self.metrics = metrics
        self.executor = executor  # one thread: onnxruntime calls never overlap, the event loop never blocks
        self.max_streams = max_streams
        self.max_seconds = max_seconds
        self.streams: list[Stream] = []
        self.pending = 0  # streams admitted whose prompt is still running
        self.wakeup = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.batch_sizes: deque[int] = deque(maxlen=10_000)  # of recent steps, for tests and benchmarks

    async def start(self, prompt_ids: np.ndarray, params: SamplingParams) -> Stream:
        """Admit a stream and run its prompt; raises CapacityError before any work when full."""
        if len(self.streams) + self.pending >= self.max_streams:
            raise CapacityError(f"{self.max_streams} generations are already running on {self.generator.name}; "
                                "retry when one finishes")
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._run())
        if not len(prompt_ids):  # the documented start state: as if after a line break
            prompt_ids = np.array([self.generator.start_id], dtype=np.int64)
        self.pending += 1
        try:  # the prompt runs alone, one call of its own length; then the stream joins the step batch
            logits, state = await self._call(prompt_ids[None, :], self.generator.initial_state(1))
        finally:
            self.pending -= 1
        stream = Stream(params, np.random.default_rng(params.seed), logits[0, -1], state)
        self.streams.append(stream)
        if self.metrics:
            self.metrics.streams.labels(self.generator.name).inc()
        self.wakeup.set()
        return stream

    async def characters(self, stream: Stream) -> AsyncIterator[str]:
        """The stream's characters as they are produced; closing the iterator stops its work."""
        deadline = time.monotonic() + self.max_seconds
        try:
            while True:
                character = await stream.characters.get()
                if character is None:
                    return
                yield character
                if time.monotonic() > deadline:
                    stream.finish_reason = "time_limit"
                    return
        finally:
            stream.cancelled = True  # the client left or the deadline passed: the loop drops it
            self.wakeup.set()

    async def _call(self, tokens: np.ndarray, state: list[np.ndarray]):
        return await asyncio.get_running_loop().run_in_executor(self.executor, self.generator.step, tokens, state)

    async def _run(self) -> None:
        while True:
            finished = sum(stream.cancelled for stream in self.streams)
            if finished:  # ended, disconnected or past the deadline: leave the batch
                self.streams = [stream for stream in self.streams if not stream.cancelled]
                if self.metrics:
                    self.metrics.streams.labels(self.generator.name).dec(finished)
            if not self.streams:
                self.wakeup.clear()
                await self.wakeup.wait()
                continue
            live = []
            for stream in self.streams:  # sample each stream's next character from its own rng
                token = next_token(stream.logits, stream.rng, stream.params.temperature,
                                   stream.params.top_k, stream.params.top_p)
                stream.characters.put_nowait(self.generator.vocabulary.characters[token])
                stream.produced += 1
                if stream.produced >= stream.params.max_new_tokens:
                    stream.characters.put_nowait(None)
                    stream.cancelled = True
                else:
                    live.append((stream, token))
            if self.metrics:
                self.metrics.characters.labels(self.generator.name).inc(len(self.streams))
            if not live:
                continue
            # one call for every stream still running: tokens (B, 1), states stacked on the batch axis
            tokens = np.array([[token] for _, token in live], dtype=np.int64)
            state = [np.concatenate([s.state[i] for s, _ in live], axis=1) for i in range(len(live[0][0].state))]
            self.batch_sizes.append(len(live))
            if self.metrics:
                self.metrics.step_batch.labels(self.generator.name).observe(len(live))
            logits, new_state = await self._call(tokens, state)
            for row, (stream, _) in enumerate(live):
                stream.logits = logits[row, -1]
                stream.state = [s[:, row : row + 1] for s in new_state]
