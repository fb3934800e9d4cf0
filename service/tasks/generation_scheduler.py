"""Text generation's part of the step scheduler (service/step_scheduler.py): a step draws one character per
stream with its temperature, top-k and top-p, and a client receives characters joined into text."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import AsyncIterator

import numpy as np

from service.step_scheduler import CapacityError, SamplingParams, StepMetrics, Stream
from service.step_scheduler import StepScheduler as Scheduler
from zoo.sampling import next_tokens
from zoo.tasks.generation.predictor import GenerationPredictor

__all__ = ["CapacityError", "GenerationMetrics", "SamplingParams", "StepScheduler"]


class GenerationMetrics:
    """Prometheus series for /metrics. Made inside the worker, after BentoML has set up the
    multiprocess directory, so that every worker's numbers reach the endpoint. One set per process
    (`shared()`): prometheus refuses a second registration of the same names."""

    _shared: "GenerationMetrics | None" = None

    @classmethod
    def shared(cls) -> "GenerationMetrics":
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def __init__(self):
        import prometheus_client

        self.characters = prometheus_client.Counter(
            "rnnzoo_generated_characters", "characters generated", ["model"])
        self.streams = prometheus_client.Gauge(
            "rnnzoo_generation_streams", "live generation streams", ["model"], multiprocess_mode="livesum")
        self.step_batch = prometheus_client.Histogram(
            "rnnzoo_generation_step_batch_size", "streams stepped by one onnxruntime call", ["model"],
            buckets=(1, 2, 4, 8, 16, 32, 64))

    def of(self, model: str) -> StepMetrics:
        return StepMetrics(self.characters.labels(model), self.streams.labels(model), self.step_batch.labels(model))


class CharacterSampler:
    def __init__(self, characters: str):
        self.characters = characters

    def sample(self, logits: np.ndarray, streams: list[Stream]) -> np.ndarray:
        """(B, V) scores -> (B,) next character ids, one generator per stream."""
        params = [s.params for s in streams]
        return next_tokens(
            logits, [s.rng for s in streams], np.array([p.temperature for p in params]),
            np.array([p.top_k if p.top_k is not None else len(self.characters) for p in params]),
            np.array([p.top_p if p.top_p is not None else 1.0 for p in params]))

    def item(self, row: np.ndarray) -> str:
        return self.characters[int(row)]


class StepScheduler(Scheduler):
    """The step scheduler of one character model."""

    def __init__(self, generator: GenerationPredictor, executor: ThreadPoolExecutor, max_streams: int,
                 max_seconds: float, metrics: GenerationMetrics | None = None, **options):
        super().__init__(generator, CharacterSampler(generator.vocabulary.characters), executor, max_streams,
                         max_seconds, metrics.of(generator.name) if metrics else None, **options)

    async def start(self, prompt: np.ndarray, params: SamplingParams) -> Stream:
        if not len(prompt):  # the documented start state: as if after a line break
            prompt = np.array([self.predictor.start_id], dtype=np.int64)
        return await super().start(prompt, params)

    async def characters(self, stream: Stream) -> AsyncIterator[str]:
        """The stream's text as it is produced, in chunks of one or more characters."""
        items = self.items(stream)
        try:
            async for characters in items:
                yield "".join(characters)
        finally:
            await items.aclose()  # the client left: the step loop drops the stream
