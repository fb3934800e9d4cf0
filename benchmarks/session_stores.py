"""Session stores side by side: the same steps against a server with sessions in its memory and one with sessions in
Redis (a local redis-server, append-only file fsynced on every write, as the deploy manifests run it), both started
by this run and measured in turns, so both see the same machine. Run on an otherwise idle machine:

    python -m benchmarks.session_stores
    python -m benchmarks.session_stores --json results.json

Reports each store's median step latency (a text step of one character after 100, a vitals hour after 10, a
100 ms speech chunk), steps/s of 100 text sessions stepping together, and the bytes a session takes in Redis
(MEMORY USAGE of its key, and the encoded session alone) beside what the memory store holds (tracemalloc), and
one load + commit in process with redis-py's pure-Python reply parser and with hiredis's, when installed.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import tempfile
import time
import wave
from pathlib import Path

from benchmarks.sessions import (
    CORPUS,
    TEXT_MODEL,
    VITALS_MODEL,
    call,
    hour_rows,
    memory_per_session,
    start,
    throughput,
)
from service.local_server import LocalRedis, local_server

SPEECH_MODEL = "digits-gru"
STORES = ("memory", "redis")


def speech_chunk(data_dir: Path | None) -> str:
    """100 ms of a real recording as raw 16-bit PCM at 8 kHz (base64), or of a tone when no data is at hand."""
    if data_dir is not None and (data_dir / "fsdd").exists():
        with wave.open(str(data_dir / "fsdd" / "recordings" / "4_george_0.wav")) as recording:
            return base64.b64encode(recording.readframes(800)).decode()
    import numpy as np

    tone = (8000 * np.sin(np.arange(800) * 2 * np.pi * 440 / 8000)).astype("<i2")
    return base64.b64encode(tone.tobytes()).decode()


async def latencies(client, urls: dict[str, str], steps: int, chunk: str) -> dict[str, dict[str, float]]:
    """{store: {step kind: median ms}}, the stores taking turns step by step."""
    async def stay(url: str) -> str:
        """A vitals session that has read 10 hours."""
        session_id = await start(client, url, VITALS_MODEL)
        await call(client, url, "/sessions/step", {"session_id": session_id, "observations": [
            row for hour in range(10) for row in hour_rows(hour)]})
        return session_id

    sessions = {}
    for store, url in urls.items():
        text = await start(client, url, TEXT_MODEL)
        await call(client, url, "/sessions/step", {"session_id": text, "text": CORPUS[:100]})
        sessions[store] = {"text": text, "vitals": await stay(url), "speech": await start(client, url, SPEECH_MODEL)}
    times = {store: {"text": [], "vitals": [], "speech": []} for store in urls}
    for i in range(steps):
        for store, url in urls.items():
            ids = sessions[store]
            if i and i % 37 == 0:  # the stay has reached its 48th hour: another one (not timed)
                await call(client, url, "/sessions/end", {"session_id": ids["vitals"]})
                ids["vitals"] = await stay(url)
            for kind, body in (("text", {"text": CORPUS[100 + i]}),
                               ("vitals", {"observations": hour_rows(10 + i % 37)}),
                               ("speech", {"audio": chunk})):
                times[store][kind].append((await call(client, url, "/sessions/step",
                                                      {"session_id": ids[kind], **body}))[0])
    for store, url in urls.items():
        for session_id in sessions[store].values():
            await call(client, url, "/sessions/end", {"session_id": session_id})
    return {store: {kind: statistics.median(values) for kind, values in kinds.items()} for store, kinds in times.items()}


async def redis_bytes(client, url: str, redis_url: str, chunk: str) -> dict[str, dict[str, int]]:
    """{model: {"memory_usage": bytes Redis reports for the key, "encoded": bytes of the session itself}} after a
    few steps of each kind of session."""
    import redis.asyncio as aioredis

    store = aioredis.Redis.from_url(redis_url)
    out = {}
    def hours(step: int) -> dict:
        return {"observations": [row for hour in range(4 * step, 4 * step + 4) for row in hour_rows(hour)]}

    for model, body in ((TEXT_MODEL, lambda _: {"text": CORPUS[:100]}),
                        ("shakespeare-lstm", lambda _: {"text": CORPUS[:100]}), (VITALS_MODEL, hours),
                        ("vitals-lstm", hours), ("jsb-gru", lambda _: {"frames": [[60, 64, 67]] * 16}),
                        (SPEECH_MODEL, lambda _: {"audio": chunk})):
        session_id = await start(client, url, model)
        for step in range(3):
            await call(client, url, "/sessions/step", {"session_id": session_id, **body(step)})
        key = f"rnnzoo:session:{session_id}"
        out[model] = {"memory_usage": int(await store.memory_usage(key, samples=0)),
                      "encoded": len(await store.hget(key, "b"))}
        await call(client, url, "/sessions/end", {"session_id": session_id})
    await store.aclose()
    return out


async def measure(urls: dict[str, str], redis_url: str, steps: int, sessions: int, rounds: int, chunk: str) -> dict:
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        await latencies(client, urls, 5, chunk)  # warm-up
        results = {"latency_ms": await latencies(client, urls, steps, chunk), "steps_per_s": {}}
        for _ in range(2):  # in turns, twice: the better of two of each
            for store, url in urls.items():
                rate = await throughput(client, url, TEXT_MODEL, sessions, rounds, together=True)
                results["steps_per_s"][store] = max(rate, results["steps_per_s"].get(store, 0.0))
        results["redis_bytes"] = await redis_bytes(client, urls["redis"], redis_url, chunk)
    return results


def store_round_trips(redis_url: str, count: int) -> dict[str, float]:
    """{reply parser: median µs of one load + commit of a shakespeare-lstm session (its state 16 KB)}, in process,
    redis-py's pure-Python parser and hiredis's (when installed) taking turns: does hiredis pay?"""
    from redis._parsers import _AsyncHiredisParser, _AsyncRESP2Parser  # redis-py's own names for them

    from service.redis_sessions import RedisSessionStore
    from service.tasks import SESSIONS
    from zoo.artifacts import ARTIFACTS_DIR
    from zoo.tasks.generation.predictor import GenerationPredictor

    predictor = GenerationPredictor(ARTIFACTS_DIR / "shakespeare-lstm", with_session=False)
    parsers = {"pure Python": _AsyncRESP2Parser}
    try:
        import hiredis  # noqa: F401

        parsers["hiredis"] = _AsyncHiredisParser
    except ImportError:
        pass

    async def run() -> dict[str, float]:
        stores = {name: RedisSessionStore(redis_url, list(SESSIONS.values()), prefix="bench", parser_class=parser)
                  for name, parser in parsers.items()}
        kind = SESSIONS["generation"]
        ids = {name: (await store.start(predictor.name, "generation", predictor.initial_state(1), kind)).id
               for name, store in stores.items()}
        times = {name: [] for name in stores}
        for _ in range(count):
            for name, store in stores.items():
                started = time.perf_counter()
                await store.commit(await store.load(ids[name]))
                times[name].append((time.perf_counter() - started) * 1e6)
        for name, store in stores.items():
            await store.end(ids[name])
            await store.close()
        return {name: statistics.median(values) for name, values in times.items()}

    return asyncio.run(run())


def report(results: dict, sessions: int) -> str:
    latency, rate = results["latency_ms"], results["steps_per_s"]
    lines = ["| median step latency | memory store ms | Redis store ms | Redis / memory |", "|---|---|---|---|"]
    for kind, label in (("text", "text, 1 character after 100"), ("vitals", "vitals, the hour after 10"),
                        ("speech", "speech, a 100 ms chunk")):
        lines.append(f"| {label} | {latency['memory'][kind]:.2f} | {latency['redis'][kind]:.2f} | "
                     f"{latency['redis'][kind] / latency['memory'][kind]:.2f}x |")
    lines += ["", f"| {sessions} text sessions stepping together | memory store | Redis store | Redis / memory |",
              "|---|---|---|---|",
              f"| steps/s | {rate['memory']:.0f} | {rate['redis']:.0f} | {rate['redis'] / rate['memory']:.2f}x |"]
    trips = results.get("store_round_trip_us", {})
    if trips:
        lines += ["", "| reply parser | load + commit of a `shakespeare-lstm` session, µs (in process) |", "|---|---|"]
        lines += [f"| {name} | {us:.0f} |" for name, us in trips.items()]
    lines += ["", "| model | Redis MEMORY USAGE, bytes | encoded session, bytes | memory store, bytes |", "|---|---|---|---|"]
    held = results.get("memory_store_bytes", {})
    for model, sizes in results["redis_bytes"].items():
        in_memory = f"{held[model]:,.0f}" if model in held else "-"
        lines.append(f"| `{model}` | {sizes['memory_usage']:,} | {sizes['encoded']:,} | {in_memory} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=100, help="steps of each kind per store for the latencies")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5, help="steps each session takes in the throughput runs")
    parser.add_argument("--data-dir", type=Path, default=None, help="real data, for a real speech chunk")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp())
    env = {"RNNZOO_MAX_SESSIONS": str(max(1000, 2 * args.sessions))}
    chunk = speech_chunk(args.data_dir)
    with LocalRedis(folder / "redis") as redis, \
            local_server(folder / "memory.log", env=env) as memory_url, \
            local_server(folder / "redis.log", env={**env, "RNNZOO_SESSION_STORE": redis.url}) as redis_url:
        results = asyncio.run(measure({"memory": memory_url, "redis": redis_url}, redis.url, args.steps,
                                      args.sessions, args.rounds, chunk))
        results["store_round_trip_us"] = store_round_trips(redis.url, 10 * args.steps)
    results["memory_store_bytes"] = memory_per_session()
    print(f"\nmedians of {args.steps} steps per kind and store, in turns; {args.sessions} sessions x {args.rounds} "
          "steps for steps/s (the better of two runs each)\n")
    print(report(results, args.sessions))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
