"""Stateful sessions: each stream's recurrent state stays in the server, so a new observation (an hour of
an ICU stay, a piece of text) costs one step from that state instead of a run over the whole history.

A recurrent network's history is its fixed-size state: (layers, 1, hidden) floats per core, a few KB.
The store keeps a state per session; steps of one session run one at a time in arrival order (an
asyncio.Lock is first-come first-served), and steps of different sessions of one model that arrive
together share onnxruntime calls (`StepBatcher`). Sessions live in the one front-end process that
owns them (the service runs one API worker): a restart loses them, and a step then gets a 404 telling
the client to start again and resend its history (the one-shot endpoints take a whole history).

A task with sessions subclasses `Session` (service/tasks/<task>.py): what it keeps besides the state, the
step fields it reads, and its `step`; the store and the batcher here are the same for every task.
"""
from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

import numpy as np

DEFAULT_TTL_S = 900.0  # idle seconds before a session is evicted
DEFAULT_MAX_SESSIONS = 1000  # live sessions; one more gets 429
MAX_BATCH_SESSIONS = 256  # sessions' steps merged into one onnxruntime call

# run(inputs (B, T, ...), state [(L, B, H), ...]) -> ([outputs (B, T, ...), ...], new state)
StepFunction = Callable[[np.ndarray, list[np.ndarray]], tuple[list[np.ndarray], list[np.ndarray]]]


class UnknownSession(LookupError):
    """No live session has this id: never started, ended, expired, or lost in a restart."""


class SessionLimit(RuntimeError):
    """As many sessions live as the store admits."""


class StepInputError(ValueError):
    """Step fields a session cannot take (the service answers 400 with the message)."""


@dataclass(eq=False, kw_only=True)
class Session:
    """One session's state. A task's subclass adds what it keeps and declares, as class variables, the
    request fields its steps read (`step_fields`: pydantic field definitions, `primary_field` the one a step
    must send), the response field its answer goes in (`answer_field`, `answer_schema`), and `describe`
    (what /sessions/start's errors call its models)."""
    id: str
    model: str
    task: str
    state: list[np.ndarray]  # [(L, 1, H), ...] after everything this session has been sent
    last_used: float  # time.monotonic() of its last start or step
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one step at a time, in arrival order

    step_fields: ClassVar[dict[str, tuple[Any, Any]]] = {}
    primary_field: ClassVar[str] = ""
    primary_hint: ClassVar[str] = ""  # after "send `<primary_field>`" in the error for a wrong step
    kind: ClassVar[str] = ""  # "a session on the <kind> model"
    describe: ClassVar[str] = ""  # in "models with sessions (<describe> and ...)"
    answer_field: ClassVar[str] = ""  # the task's name: the step response field its answers go in
    answer_schema: ClassVar[tuple[Any, Any]] = (None, None)

    @classmethod
    def open(cls, predictor) -> dict[str, Any]:
        """What a new session of `predictor` keeps besides its state (keyword arguments of the subclass)."""
        return {}

    def check_fields(self, fields: dict[str, Any], other_primaries: list[str]) -> None:
        """A step sends this task's primary field and no other session task's."""
        if fields.get(self.primary_field) is None or any(fields.get(name) is not None for name in other_primaries):
            others = " or ".join(f"`{name}`" for name in other_primaries)
            raise StepInputError(f"session {self.id!r} is on the {self.kind} model {self.model}: send "
                                 f"`{self.primary_field}`{self.primary_hint}, not {others}")

    async def step(self, server, fields: dict[str, Any]):
        """Apply one step's fields (the session's lock is held) and return its answer (`answer_schema`).
        `server` (service.core.ModelServer) gives the model, its step batcher and the failure rule."""
        raise NotImplementedError


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

    def start(self, model: str, task: str, state: list[np.ndarray], kind: type[Session] = Session,
              **fields) -> Session:
        self._sweep()
        if len(self.sessions) >= self.max_sessions:
            self._sweep(force=True)
        if len(self.sessions) >= self.max_sessions:
            raise SessionLimit(f"{len(self.sessions)} sessions are live, the maximum (RNNZOO_MAX_SESSIONS="
                               f"{self.max_sessions}); end one with /sessions/end, or retry when idle ones "
                               f"expire ({self.ttl_s:g} s without a step)")
        session = kind(id=secrets.token_urlsafe(16), model=model, task=task, state=state, last_used=self.clock(),
                       **fields)
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
