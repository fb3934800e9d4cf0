"""The service's configuration: one typed object, read from the environment once when a worker starts.
A bad value stops the worker at start-up with a message naming the variable and what it allows."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from service.sessions import DEFAULT_MAX_SESSIONS, DEFAULT_TTL_S
from zoo.artifacts import ARTIFACTS_DIR

ARTIFACTS_ENV = "RNNZOO_ARTIFACTS"  # another zoo directory (tests use it to serve broken artifacts)
STRICT_ENV = "RNNZOO_STRICT"  # "1": refuse to start while any model in the zoo folder is broken
BATCHING_ENV = "RNNZOO_BATCHING"  # "on" (default) or "off": one onnxruntime call per request, for benchmarks
SESSION_TTL_ENV = "RNNZOO_SESSION_TTL_S"  # idle seconds before a session is evicted
MAX_SESSIONS_ENV = "RNNZOO_MAX_SESSIONS"  # live sessions; one more gets 429
SESSION_STORE_ENV = "RNNZOO_SESSION_STORE"  # "memory" (default) or a Redis URL: see service/redis_sessions.py
REDIS_SCHEMES = ("redis", "rediss", "unix")
WORKERS_ENV = "RNNZOO_WORKERS"  # API worker processes; more than 1 needs sessions in Redis
TRACING_ENV = "RNNZOO_TRACING"  # "off" (default): no OpenTelemetry span per request; "on": BentoML's tracing


def threads_env(task: str) -> str:
    """RNNZOO_<TASK>_THREADS: intra-op threads of a task's sessions (1 by default; see service/docs/configuration.md)."""
    return f"RNNZOO_{task.upper()}_THREADS"


@dataclass(frozen=True)
class Settings:
    artifacts_dir: Path = ARTIFACTS_DIR
    strict: bool = False
    batching: bool = True
    max_sessions: int = DEFAULT_MAX_SESSIONS
    session_ttl_s: float = DEFAULT_TTL_S
    session_store: str = "memory"  # or a Redis URL
    task_threads: dict[str, int] = field(default_factory=dict)  # tasks whose threads are set; others use 1

    @classmethod
    def from_environment(cls, tasks: tuple[str, ...], environ: Mapping[str, str] = os.environ) -> "Settings":
        return cls(artifacts_dir=Path(environ.get(ARTIFACTS_ENV) or ARTIFACTS_DIR),
                   strict=_choice(environ, STRICT_ENV, "0", ("0", "1")) == "1",
                   batching=_choice(environ, BATCHING_ENV, "on", ("on", "off")) == "on",
                   max_sessions=_max_sessions(environ), session_ttl_s=_session_ttl(environ),
                   session_store=_session_store(environ),
                   task_threads={task: _threads(environ, threads_env(task)) for task in tasks
                                 if threads_env(task) in environ})


def _choice(environ: Mapping[str, str], name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = environ.get(name, default)
    if value not in allowed:
        raise ValueError(f"{name}={value!r}: expected {' or '.join(allowed)}")
    return value


def _threads(environ: Mapping[str, str], name: str) -> int:
    """More than 1 pays off only for many streams on idle cores."""
    value, cores = environ.get(name, "1"), os.cpu_count() or 1
    if not value.isdigit() or not 1 <= int(value) <= cores:
        raise ValueError(f"{name}={value!r}: expected a whole number from 1 to {cores} (this machine's cores)")
    return int(value)


def _max_sessions(environ: Mapping[str, str]) -> int:
    count = environ.get(MAX_SESSIONS_ENV, str(DEFAULT_MAX_SESSIONS))
    if not count.isdigit() or not 1 <= int(count) <= 1_000_000:
        raise ValueError(f"{MAX_SESSIONS_ENV}={count!r}: expected a whole number from 1 to 1000000")
    return int(count)


def _session_ttl(environ: Mapping[str, str]) -> float:
    ttl = environ.get(SESSION_TTL_ENV, "")
    try:
        seconds = float(ttl) if ttl else DEFAULT_TTL_S
    except ValueError:
        seconds = float("nan")
    if not 0.1 <= seconds <= 86400:
        raise ValueError(f"{SESSION_TTL_ENV}={ttl!r}: expected seconds from 0.1 to 86400")
    return seconds


def _session_store(environ: Mapping[str, str]) -> str:
    value = environ.get(SESSION_STORE_ENV, "") or "memory"
    scheme, separator, rest = value.partition("://")
    if value != "memory" and not (separator and scheme in REDIS_SCHEMES and rest):
        raise ValueError(f"{SESSION_STORE_ENV}={value!r}: expected memory (the default: sessions in the worker's "
                         f"memory) or a Redis URL such as redis://redis:6379/0 ({', '.join(REDIS_SCHEMES)})")
    return value


def api_workers(environ: Mapping[str, str] = os.environ) -> int:
    """RNNZOO_WORKERS, read when the service module is imported (BentoML starts the workers from it). Several
    workers share the HTTP work of one machine; their sessions must then live in Redis, where every worker sees
    them: with sessions in memory, a step that reached another worker than its start would get 404."""
    value, cores = environ.get(WORKERS_ENV, "1"), os.cpu_count() or 1
    if not value.isdigit() or not 1 <= int(value) <= 4 * cores:
        raise ValueError(f"{WORKERS_ENV}={value!r}: expected a whole number from 1 to {4 * cores} (4 per core)")
    if int(value) > 1 and _session_store(environ) == "memory":
        raise ValueError(f"{WORKERS_ENV}={value} needs {SESSION_STORE_ENV}=redis://...: with sessions in each "
                         "worker's memory, a step that reached another worker than the one that started its session "
                         "would get 404")
    return int(value)


def tracing_config(environ: Mapping[str, str] = os.environ) -> dict:
    """BentoML's `tracing` service setting, from RNNZOO_TRACING (read when the service module is imported).

    Why off by default: BentoML's OpenTelemetry middleware starts a span for every request even when no exporter
    is configured, and at 64 clients on 2 cores that cost /sentiment about a fifth of its requests/s (2,100 vs
    2,550-2,990 in one A/B run). "on" keeps BentoML's tracing, for a deployment that exports spans (its exporter
    is set in BENTOML_CONFIG)."""
    if _choice(environ, TRACING_ENV, "off", ("off", "on")) == "on":
        return {}
    return {"excluded_urls": [".*"]}  # every path: the middleware passes requests straight through
