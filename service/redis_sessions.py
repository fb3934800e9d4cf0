"""Sessions in Redis (RNNZOO_SESSION_STORE=redis://host:port/db): every API worker and replica reads and writes
the same sessions, so a killed worker, a rolled-out image or a rescheduled pod loses none, and a load balancer
may send each step anywhere.

Layout, under a prefix (default "rnnzoo"):
    <prefix>:session:<id>   hash {v: version, b: the session's bytes (service/session_codec.py)}, expiring after
                            the idle TTL (PEXPIRE, renewed by each step)
    <prefix>:live           sorted set id -> expiry time (ms): the live sessions, counted for the global limit

Each operation is one Lua script, so it is atomic in Redis:
- start: drop expired ids from `live`; refuse past max_sessions; write the session at version 0.
- commit: write the stepped session only if its version is still the one the step read (optimistic concurrency).
  A loser gets StepConflict and the service applies the step again on the new state. Why not a lock with a lease:
  a worker killed while holding it would stall its session until the lease ran out, and a step that outlived its
  lease could still write over a newer one; a version check cannot do either.
- end: delete both.
Durability is Redis's: run it with appendonly yes and appendfsync always (the deploy manifests do) so an
acknowledged step survives a Redis restart.
"""
from __future__ import annotations

import contextlib
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from service.session_codec import CodecError, SessionCodec
from service.sessions import (
    DEFAULT_MAX_SESSIONS,
    DEFAULT_TTL_S,
    KeyedLocks,
    Session,
    SessionLimit,
    SessionStore,
    StepConflict,
    StoreUnavailable,
    new_session_id,
    unknown,
)

TIMEOUT_S = 2.0  # connect and answer; past it a step gets 503 rather than hanging

_NOW = "local t = redis.call('TIME') local now = t[1] * 1000 + math.floor(t[2] / 1000) "
START = _NOW + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local live = redis.call('ZCARD', KEYS[1])
if live >= tonumber(ARGV[1]) then return live end
redis.call('HSET', KEYS[2], 'v', 0, 'b', ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
return -1
"""
COMMIT = _NOW + """
local version = redis.call('HGET', KEYS[2], 'v')
if not version then return -1 end
if tonumber(version) ~= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'v', tonumber(ARGV[1]) + 1, 'b', ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
return 1
"""
END = """
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('DEL', KEYS[2])
"""


def redacted(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class RedisSessionStore(SessionStore):
    name = "redis"

    def __init__(self, url: str, kinds: list[type[Session]], max_sessions: int = DEFAULT_MAX_SESSIONS,
                 ttl_s: float = DEFAULT_TTL_S, prefix: str = "rnnzoo", **connection):
        """`connection`: more options of redis-py's connections (the benchmark picks the reply parser so)."""
        self.url, self.max_sessions, self.ttl_s, self.prefix = url, max_sessions, ttl_s, prefix
        self.codec = SessionCodec(kinds)
        self.client = aioredis.Redis.from_url(url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S,
                                              **connection)
        self.live_key = f"{prefix}:live"
        self.scripts = {name: self.client.register_script(source)
                        for name, source in (("start", START), ("commit", COMMIT), ("end", END))}
        self.locks = KeyedLocks()

    def key(self, session_id: str) -> str:
        return f"{self.prefix}:session:{session_id}"

    @property
    def ttl_ms(self) -> int:
        return max(1, round(self.ttl_s * 1000))

    @contextlib.asynccontextmanager
    async def _talking(self):
        """Redis's failures as StoreUnavailable, saying which store and why."""
        try:
            yield
        except RedisError as error:
            raise StoreUnavailable(f"the session store {redacted(self.url)} cannot be reached or refused the "
                                   f"request ({type(error).__name__}: {error}); sessions are unavailable until it "
                                   "is back, and none of their steps is lost") from None

    def locked(self, session_id: str) -> contextlib.AbstractAsyncContextManager:
        return self.locks.hold(session_id)

    async def start(self, model: str, task: str, state: list[np.ndarray], kind: type[Session] = Session,
                    **fields) -> Session:
        session = kind(id=new_session_id(), model=model, task=task, state=state, last_used=0.0, **fields)
        async with self._talking():
            live = await self.scripts["start"](keys=[self.live_key, self.key(session.id)],
                                               args=[self.max_sessions, self.ttl_ms, session.id,
                                                     self.codec.encode(session)])
        if live >= 0:
            raise SessionLimit(f"{live} sessions are live in the shared store, the maximum (RNNZOO_MAX_SESSIONS="
                               f"{self.max_sessions}); end one with /sessions/end, or retry when idle ones "
                               f"expire ({self.ttl_s:g} s without a step)")
        return session

    async def load(self, session_id: str) -> Session:
        async with self._talking():
            version, data = await self.client.hmget(self.key(session_id), ["v", "b"])
        if data is None:
            raise unknown(session_id, self.ttl_s, "")
        try:
            session = self.codec.decode(data)
        except CodecError as error:  # another version's or damaged: say so, and never start it afresh
            raise StoreUnavailable(f"session {session_id!r} in the store cannot be read by this server: {error}") from None
        session.version = int(version)
        return session

    async def commit(self, session: Session) -> None:
        read = session.version
        session.version = read + 1  # what the stored copy says once this commit lands (the codec keeps it)
        try:
            async with self._talking():
                done = await self.scripts["commit"](keys=[self.live_key, self.key(session.id)],
                                                    args=[read, self.codec.encode(session), self.ttl_ms, session.id])
        except StoreUnavailable:
            session.version = read
            raise
        if done == 0:
            raise StepConflict(f"session {session.id!r} was stepped elsewhere after version {read}")
        if done < 0:
            raise unknown(session.id, self.ttl_s, "")  # ended or expired while this step ran

    async def end(self, session_id: str) -> None:
        async with self._talking():
            deleted = await self.scripts["end"](keys=[self.live_key, self.key(session_id)], args=[session_id])
        if not deleted:
            raise unknown(session_id, self.ttl_s, "")

    def discard(self, session: Session) -> bool:
        """Nothing to undo: the stored copy is the last committed step's."""
        return False

    async def live(self) -> int:
        """Sessions live in the store now (for tests and benchmarks)."""
        async with self._talking():
            return int(await self.client.zcount(self.live_key, "(" + str(await self._now_ms()), "+inf"))

    async def _now_ms(self) -> int:
        seconds, micros = await self.client.time()
        return seconds * 1000 + micros // 1000

    async def close(self) -> None:
        await self.client.aclose()
