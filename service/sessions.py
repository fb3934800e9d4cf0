"""Stateful sessions: each stream's recurrent state stays in the server, so a new observation (an hour of
an ICU stay, a piece of text) costs one step from that state instead of a run over the whole history.

A recurrent network's history is its fixed-size state: (layers, 1, hidden) floats per core, a few KB. A store
keeps each session (state, what its task keeps besides, a version, the answers of its last steps):
- `MemorySessionStore` (the default) holds them in the one API worker's memory: nothing else to run, the fastest
  step, and a worker restart loses every session (a step then gets 404 and the client starts again).
- `RedisSessionStore` (service/redis_sessions.py, RNNZOO_SESSION_STORE=redis://...) holds them in Redis, so a
  killed worker, a new image or another replica carries on where the last step left off, without sticky routing.

Steps of one session run one at a time in arrival order within a process (a first-come first-served asyncio.Lock
per session id); across processes, a step commits only onto the version it read, and one that lost the race is
applied again on the winner's state (optimistic concurrency), so no step is lost or applied on a stale state. A
step sent with a `step_id` is applied once: a retry with the same id gets the stored answer. Steps of different
sessions of one model that arrive together share onnxruntime calls (`StepBatcher`).

A task with sessions subclasses `Session` (service/tasks/<task>.py): what it keeps besides the state (and the
classes of those objects, `stored_types`, which the Redis store may rebuild), the step fields it reads, and its
`step`; the stores and the batcher here are the same for every task.
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, ClassVar

import numpy as np

DEFAULT_TTL_S = 900.0  # idle seconds before a session is evicted
DEFAULT_MAX_SESSIONS = 1000  # live sessions; one more gets 429
MAX_BATCH_SESSIONS = 256  # sessions' steps merged into one onnxruntime call
REMEMBERED_STEPS = 16  # step ids whose answers a session keeps, for retries of its latest steps
MAX_STEP_ID_CHARS = 64

# run(inputs (B, T, ...), state [(L, B, H), ...]) -> ([outputs (B, T, ...), ...], new state)
StepFunction = Callable[[np.ndarray, list[np.ndarray]], tuple[list[np.ndarray], list[np.ndarray]]]


class UnknownSession(LookupError):
    """No live session has this id: never started, ended, expired, or lost in a restart."""


class SessionLimit(RuntimeError):
    """As many sessions live as the store admits."""


class StepInputError(ValueError):
    """Step fields a session cannot take (the service answers 400 with the message)."""


class StepConflict(RuntimeError):
    """Another process committed a step of this session after this one read it: apply the step again."""


class StoreUnavailable(RuntimeError):
    """The session store cannot be reached or answered wrongly (the service answers 503 with the message)."""


@dataclass(eq=False, kw_only=True)
class Session:
    """One session's state. A task's subclass adds what it keeps and declares, as class variables, the
    request fields its steps read (`step_fields`: pydantic field definitions, `primary_field` the one a step
    must send), the response field its answer goes in (`answer_field`, `answer_schema`), `describe`
    (what /sessions/start's errors call its models) and `stored_types` (the classes of what it keeps)."""
    id: str
    model: str
    task: str
    state: list[np.ndarray]  # [(L, 1, H), ...] after everything this session has been sent
    last_used: float  # the store's clock at its last start or step (the memory store's idle clock)
    version: int = 0  # steps committed: a step commits onto the version it read
    answers: dict[str, str] = field(default_factory=dict)  # step id -> the step's response (JSON), the latest last

    step_fields: ClassVar[dict[str, tuple[Any, Any]]] = {}
    primary_field: ClassVar[str] = ""
    primary_hint: ClassVar[str] = ""  # after "send `<primary_field>`" in the error for a wrong step
    kind: ClassVar[str] = ""  # "a session on the <kind> model"
    describe: ClassVar[str] = ""  # in "models with sessions (<describe> and ...)"
    answer_field: ClassVar[str] = ""  # the task's name: the step response field its answers go in
    answer_schema: ClassVar[tuple[Any, Any]] = (None, None)
    stored_types: ClassVar[tuple[type, ...]] = ()  # classes of the objects the subclass keeps (see session_codec)

    @classmethod
    def accepts(cls, predictor) -> bool:
        """Whether `predictor` can hold a session (`open` says why not, with a 400)."""
        return True

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

    def remember(self, step_id: str | None, answer: str) -> None:
        """Keep a step's answer under its id (the last REMEMBERED_STEPS ids), committed with the step."""
        if step_id is not None:
            self.answers[step_id] = answer
            for old in list(self.answers)[: -REMEMBERED_STEPS]:
                del self.answers[old]

    async def step(self, server, fields: dict[str, Any]):
        """Apply one step's fields (the session's lock is held) and return its answer (`answer_schema`).
        `server` (service.core.ModelServer) gives the model, its step batcher and the failure rule."""
        raise NotImplementedError


class KeyedLocks:
    """One first-come first-served asyncio.Lock per key, alive while someone holds or waits for it."""

    def __init__(self):
        self.locks: dict[str, tuple[asyncio.Lock, int]] = {}  # key -> (lock, holders and waiters)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self.locks.get(key, (None, 0))
        lock = lock or asyncio.Lock()
        self.locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self.locks[key]
            if users == 1:
                del self.locks[key]
            else:
                self.locks[key] = (lock, users - 1)

    def held(self, key: str) -> bool:
        return key in self.locks


def new_session_id() -> str:
    return secrets.token_urlsafe(16)


def unknown(session_id: str, ttl_s: float, lost: str) -> UnknownSession:
    return UnknownSession(f"unknown or expired session {session_id!r}: sessions end after {ttl_s:g} s without a step, "
                          f"on /sessions/end{lost}; start a new one with /sessions/start and send the history again")


class SessionStore:
    """What the service asks of a store. `locked` orders one process's steps of a session; `load` gives the
    session to step (the live object in memory, a fresh copy from Redis); `commit` saves a stepped session onto
    the version it was loaded at (StepConflict if another process committed first); `discard` is told a step
    failed half-way and says whether the session ended (True) or is still as its last commit (False)."""

    name = ""  # "memory" or "redis": the start-up log says where sessions live
    max_sessions: int
    ttl_s: float

    def locked(self, session_id: str) -> contextlib.AbstractAsyncContextManager:
        raise NotImplementedError

    async def start(self, model: str, task: str, state: list[np.ndarray], kind: type[Session] = Session,
                    **fields) -> Session:
        raise NotImplementedError

    async def load(self, session_id: str) -> Session:
        raise NotImplementedError

    async def commit(self, session: Session) -> None:
        raise NotImplementedError

    async def end(self, session_id: str) -> None:
        raise NotImplementedError

    def discard(self, session: Session) -> bool:
        raise NotImplementedError

    async def close(self) -> None:
        """Let go of connections (the Redis store)."""


class MemorySessionStore(SessionStore):
    """Live sessions by id in this process, with an idle TTL and a maximum count. An expired session is refused
    at once; the memory of expired sessions is freed by a sweep at most every `sweep_interval` seconds (and
    always before a start is refused for lack of room), not by a background task. Sessions are stepped in
    place, so `commit` only counts the step and resets the idle clock."""

    name = "memory"

    def __init__(self, max_sessions: int = DEFAULT_MAX_SESSIONS, ttl_s: float = DEFAULT_TTL_S,
                 clock: Callable[[], float] = time.monotonic):
        self.max_sessions, self.ttl_s, self.clock = max_sessions, ttl_s, clock
        self.sweep_interval = min(1.0, ttl_s / 4)  # a sweep reads every session: not on each step
        self.last_sweep = clock()
        self.sessions: dict[str, Session] = {}
        self.locks = KeyedLocks()

    def locked(self, session_id: str) -> contextlib.AbstractAsyncContextManager:
        return self.locks.hold(session_id)

    async def start(self, model: str, task: str, state: list[np.ndarray], kind: type[Session] = Session,
                    **fields) -> Session:
        self._sweep()
        if len(self.sessions) >= self.max_sessions:
            self._sweep(force=True)
        if len(self.sessions) >= self.max_sessions:
            raise SessionLimit(f"{len(self.sessions)} sessions are live, the maximum (RNNZOO_MAX_SESSIONS="
                               f"{self.max_sessions}); end one with /sessions/end, or retry when idle ones "
                               f"expire ({self.ttl_s:g} s without a step)")
        session = kind(id=new_session_id(), model=model, task=task, state=state, last_used=self.clock(), **fields)
        self.sessions[session.id] = session
        return session

    async def load(self, session_id: str) -> Session:
        """The live session, its idle clock reset; UnknownSession if there is none."""
        self._sweep()
        session = self.sessions.get(session_id)
        # Idle past the TTL means expired here, though the caller holds its lock: it is about to step it. (The
        # sweep, which reads other sessions too, spares the ones whose locks are held: their steps are running.)
        if session is not None and session.last_used < self.clock() - self.ttl_s:
            del self.sessions[session_id]
            session = None
        if session is None:
            raise unknown(session_id, self.ttl_s, " and on a server restart (sessions live in the server's memory)")
        session.last_used = self.clock()
        return session

    async def commit(self, session: Session) -> None:
        session.version += 1
        session.last_used = self.clock()  # idle time counts from the end of a step

    async def end(self, session_id: str) -> None:
        await self.load(session_id)
        del self.sessions[session_id]

    def discard(self, session: Session) -> bool:
        """A step failed half-way through the live object: its history and state may disagree, so it ends."""
        self.sessions.pop(session.id, None)
        return True

    def _expired(self, session: Session, cutoff: float) -> bool:
        return session.last_used < cutoff and not self.locks.held(session.id)  # never under a running step

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
