"""Stateful sessions: each stream's recurrent state stays in the server, so a new observation (an hour of
vitals, a piece of text) costs one step from that state instead of a run over the whole history.

A recurrent network's history is its fixed-size state: (layers, 1, hidden) floats per core, a few KB.
The store keeps a state per session; steps of one session run one at a time in arrival order (an
asyncio.Lock is first-come first-served), and steps of different sessions of one model that arrive
together share onnxruntime calls (`StepBatcher`). Sessions live in the one front-end process that
owns them (the service runs one API worker): a restart loses them, and a step then gets a 404 telling
the client to start again and resend its history (the one-shot endpoints take a whole history).
"""
from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from zoo.tasks.vitals.records import StayFeatures

DEFAULT_TTL_S = 900.0  # idle seconds before a session is evicted
DEFAULT_MAX_SESSIONS = 1000  # live sessions; one more gets 429
MAX_BATCH_SESSIONS = 256  # sessions' steps merged into one onnxruntime call
TOP_CHARACTERS = 5  # next-character candidates a text step returns

# run(inputs (B, T, ...), state [(L, B, H), ...]) -> ([outputs (B, T, ...), ...], new state)
StepFunction = Callable[[np.ndarray, list[np.ndarray]], tuple[list[np.ndarray], list[np.ndarray]]]


class UnknownSession(LookupError):
    """No live session has this id: never started, ended, expired, or lost in a restart."""


class SessionLimit(RuntimeError):
    """As many sessions live as the store admits."""


@dataclass(eq=False)
class Session:
    id: str
    model: str
    task: str  # "vitals" or "generation"
    state: list[np.ndarray]  # [(L, 1, H), ...] after everything this session has been sent
    last_used: float  # time.monotonic() of its last start or step
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one step at a time, in arrival order
    # vitals: the stay so far and the risk after each closed hour
    stay: StayFeatures | None = None
    risks: list[float] = field(default_factory=list)
    # generation: the next character's scores after the text so far (None before any text)
    logits: np.ndarray | None = None
    characters: int = 0


class SessionStore:
    """Live sessions by id, with an idle TTL and a maximum count. An expired session is refused at once;
    the memory of expired sessions is freed by a sweep at most every `sweep_interval` seconds (and
    always before a start is refused for lack of room), not by a background task."""

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.max_sessions, self.ttl_s, self.clock = max_sessions, ttl_s, clock
        self.sweep_interval = min(1.0, ttl_s / 4)  # a sweep reads every session: not on each step
        self.last_sweep = clock()
        self.sessions: dict[str, Session] = {}

    def start(self, model: str, task: str, state: list[np.ndarray], **fields) -> Session:
        self._sweep()
        if len(self.sessions) >= self.max_sessions:
            self._sweep(force=True)
        if len(self.sessions) >= self.max_sessions:
            raise SessionLimit(f"{len(self.sessions)} sessions are live, the maximum (RNNZOO_MAX_SESSIONS="
                               f"{self.max_sessions}); end one with /sessions/end, or retry when idle ones "
                               f"expire ({self.ttl_s:g} s without a step)")
        session = Session(secrets.token_urlsafe(16), model, task, state, self.clock(), **fields)
        self.sessions[session.id] = session
        return session

    def get(self, session_id: str) -> Session:
        """The live session, its idle clock reset; UnknownSession if there is none."""
        self._sweep()
        session = self.sessions.get(session_id)
        if session is not None and self._expired(session, self.clock() - self.ttl_s):
            del self.sessions[session_id]
            session = None
        if session is None:
            raise UnknownSession(f"unknown or expired session {session_id!r}: sessions end after {self.ttl_s:g} s "
                                 "without a step, on /sessions/end and on a server restart; start a new one "
                                 "with /sessions/start and send the history again")
        session.last_used = self.clock()
        return session

    def end(self, session_id: str) -> Session:
        session = self.get(session_id)
        del self.sessions[session_id]
        return session

    def discard(self, session_id: str) -> None:
        """Drop a session if it is still there (one whose step failed half-way)."""
        self.sessions.pop(session_id, None)

    @staticmethod
    def _expired(session: Session, cutoff: float) -> bool:
        return session.last_used < cutoff and not session.lock.locked()  # never under a running step

    def _sweep(self, force: bool = False) -> None:
        """Drop the sessions idle past the TTL."""
        now = self.clock()
        if not force and now - self.last_sweep < self.sweep_interval:
            return
        self.last_sweep, cutoff = now, now - self.ttl_s
        for session_id in [sid for sid, s in self.sessions.items() if self._expired(s, cutoff)]:
            del self.sessions[session_id]


def run_ragged(run: StepFunction, items: list[tuple[np.ndarray, list[np.ndarray]]],
               ) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
    """Run sequences of different lengths, each from its own state, in as few calls as there are distinct
    lengths: every call takes the next stretch of all sequences still running, no padding, so each
    sequence gets exactly what a call of its own would give.

    items: [(inputs (T_i, ...), state [(L, 1, H), ...]), ...] with T_i >= 1
    returns: [([outputs (T_i, ...), ...], state after the last input), ...]
    """
    lengths = [len(inputs) for inputs, _ in items]
    states = [state for _, state in items]
    pieces: list[list[list[np.ndarray]]] = [[] for _ in items]  # per item, per call: its outputs
    start = 0
    for stop in sorted(set(lengths)):
        active = [i for i, length in enumerate(lengths) if length >= stop]
        inputs = np.stack([items[i][0][start:stop] for i in active])  # (B, stop - start, ...)
        state = [np.concatenate([states[i][k] for i in active], axis=1) for k in range(len(states[active[0]]))]
        outputs, new_state = run(inputs, state)
        for row, i in enumerate(active):
            pieces[i].append([out[row] for out in outputs])
            states[i] = [s[:, row:row + 1].copy() for s in new_state]  # a copy: the batch's arrays can go
        start = stop
    return [([np.concatenate(parts) for parts in zip(*pieces[i])], states[i]) for i in range(len(items))]


class StepBatcher:
    """Merges the steps of different sessions of one model that arrive while a call runs: the first
    step runs at once; those arriving meanwhile wait for it and then go together (continuous batching)."""

    def __init__(self, run: StepFunction, executor: ThreadPoolExecutor, max_batch: int = MAX_BATCH_SESSIONS,
                 observe: Callable[[int], None] | None = None):
        self.run, self.executor, self.max_batch, self.observe = run, executor, max_batch, observe
        self.pending: list[tuple[np.ndarray, list[np.ndarray], asyncio.Future]] = []
        self.draining = False
        self.batch_sizes: deque[int] = deque(maxlen=10_000)  # sessions per call, for tests and benchmarks

    async def submit(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """inputs (T, ...) from state [(L, 1, H), ...] -> ([outputs (T, ...), ...], the state after them)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.pending.append((inputs, state, future))
        if not self.draining:
            self.draining = True
            loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self.pending:
                batch, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
                self.batch_sizes.append(len(batch))
                if self.observe:
                    self.observe(len(batch))
                try:
                    results = await loop.run_in_executor(self.executor, run_ragged, self.run,
                                                         [(inputs, state) for inputs, state, _ in batch])
                except Exception as error:  # every waiting step hears of it; none waits forever
                    for _, _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    continue
                for (_, _, future), result in zip(batch, results):
                    if not future.done():
                        future.set_result(result)
        finally:
            self.draining = False


def top_characters(logits: np.ndarray, characters: str, count: int = TOP_CHARACTERS) -> list[tuple[str, float]]:
    """(V,) scores -> the `count` likeliest next characters with their probabilities (temperature 1)."""
    probabilities = np.exp(logits.astype(np.float64) - logits.max())
    probabilities /= probabilities.sum()
    order = np.argsort(-probabilities, kind="stable")[:count]
    return [(characters[i], float(probabilities[i])) for i in order]
