"""Beam search for concurrent requests in shared onnxruntime calls: each request's sentences are encoded once, then
every live hypothesis of every sentence of every request is one row of the same decoder-step call. A request joins
between two steps and leaves when all its sentences are settled, so a short request does not wait for a long one.

The memories of the requests in flight are padded to the longest source and stacked once per change of the set of
requests, not per step; the decoder graph gathers each row's sentence itself (its `rows` input).
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from zoo.tasks.translation.beam import BeamSearch, Finished
from zoo.tasks.translation.predictor import TranslationPredictor, target_limit
from zoo.tasks.translation.vocabulary import Encoded


class Busy(RuntimeError):
    """More sentences in flight than the scheduler takes: the request should come back shortly."""


@dataclass(eq=False)
class _Job:
    search: BeamSearch
    memory: np.ndarray  # (N, S, 2K)
    keys: np.ndarray  # (N, S, H)
    lengths: np.ndarray  # (N,)
    cancelled: bool = False  # the client left: the job leaves before the next step
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class TranslationScheduler:
    def __init__(self, predictor: TranslationPredictor, executor: ThreadPoolExecutor, max_sentences: int,
                 observe=None):
        self.predictor, self.executor, self.max_sentences = predictor, executor, max_sentences
        self.observe = observe or (lambda rows: None)  # rows per decoder call, for the metrics
        self.jobs: list[_Job] = []
        self.in_flight = 0  # sentences admitted and not answered yet, those still being encoded included
        self.driver: asyncio.Task | None = None
        self._merged: tuple | None = None  # (jobs it was built for, memory, keys, lengths, offsets)

    async def translate(self, encoded: list[Encoded], beam_size: int, max_length: int | None) -> list[Finished]:
        if self.in_flight + len(encoded) > self.max_sentences:
            raise Busy(f"{self.in_flight} sentences are being translated by {self.predictor.name}, and at most "
                       f"{self.max_sentences} are taken at once; retry shortly")
        self.in_flight += len(encoded)  # counted before the first await, so concurrent requests see it
        job = None
        try:
            loop = asyncio.get_running_loop()
            memory, keys, lengths, state = await loop.run_in_executor(self.executor, self.predictor.encoder, encoded)
            limits = [target_limit(int(n), max_length) for n in lengths]
            job = _Job(BeamSearch(state, lengths, beam_size, limits), memory, keys, lengths)
            self.jobs.append(job)
            if self.driver is None or self.driver.done():
                self.driver = asyncio.create_task(self._drive())
            return await asyncio.shield(job.done)
        except asyncio.CancelledError:  # the client left: its rows leave at the next step
            if job is not None:
                job.cancelled = True
            raise
        finally:
            self.in_flight -= len(encoded)

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        while self.jobs:
            self.jobs = [job for job in self.jobs if not job.cancelled]
            jobs = list(self.jobs)  # those that join during the step wait for the next one
            if not jobs:
                break
            try:
                await loop.run_in_executor(self.executor, self._step, jobs)
            except Exception as error:  # noqa: BLE001 - every waiting request hears of it, none hangs
                for job in jobs:
                    if not job.cancelled and not job.done.done():
                        job.done.set_exception(error)
                    if job in self.jobs:
                        self.jobs.remove(job)
                continue
            for job in jobs:
                if job.search.done:
                    if not job.cancelled and not job.done.done():
                        job.done.set_result(job.search.best())
                    self.jobs.remove(job)

    def _merge(self, jobs: list[_Job]) -> tuple:
        if self._merged is None or self._merged[0] != jobs:
            width = max(job.memory.shape[1] for job in jobs)
            memory = np.concatenate([np.pad(j.memory, ((0, 0), (0, width - j.memory.shape[1]), (0, 0))) for j in jobs])
            keys = np.concatenate([np.pad(j.keys, ((0, 0), (0, width - j.keys.shape[1]), (0, 0))) for j in jobs])
            offsets = np.cumsum([0] + [len(j.lengths) for j in jobs])
            self._merged = (list(jobs), memory, keys, np.concatenate([j.lengths for j in jobs]), offsets)
        return self._merged[1:]

    def _step(self, jobs: list[_Job]) -> None:
        """One decoder call for the live rows of `jobs` (in the model thread)."""
        memory, keys, lengths, offsets = self._merge(jobs)
        parts = [job.search.rows_to_step() for job in jobs]
        tokens = np.concatenate([p[0] for p in parts])
        rows = np.concatenate([p[1] + offset for p, offset in zip(parts, offsets)])
        state = [np.concatenate([p[2][i] for p in parts], axis=1) for i in range(len(parts[0][2]))]
        self.observe(len(tokens))
        logits, attention, new_state = self.predictor.decoder_step(tokens, memory, keys, lengths, rows, state)
        start = 0
        for job, part in zip(jobs, parts):
            end = start + len(part[0])
            width = job.memory.shape[1]
            job.search.advance(logits[start:end], attention[start:end, :, :width], [s[:, start:end] for s in new_state])
            start = end
