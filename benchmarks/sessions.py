"""Session speed: a step's latency after a short and a long history (it should not grow), beside the
one-shot recompute of the same history (which does); 100 sessions stepping together vs one at a time;
and memory per session. Run on an otherwise idle machine:

    python -m benchmarks.sessions
    python -m benchmarks.sessions --url http://127.0.0.1:3000 --json results.json

Text: a step appends one character to a session that has read 10 or 1,000, vs /generate with that
history as prompt (1 character). Vitals: a step adds the next hour's readings to a stay of 10 or 47
hours (a record holds 48), vs /vitals with the whole stay. Medians of --steps; the load client shares
the machine with the server.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from service.local_server import local_server

TEXT_MODEL, VITALS_MODEL = "shakespeare-gru", "vitals-gru"
CORPUS = ("ROMEO:\nBut soft, what light through yonder window breaks? It is the east, and Juliet is the sun.\n"
          "Arise, fair sun, and kill the envious moon, who is already sick and pale with grief.\n") * 20


def hour_rows(hour: int, minute: int = 10) -> list[dict]:
    """A plausible hour of bedside readings."""
    time_ = f"{hour:02d}:{minute:02d}"
    return [{"time": time_, "parameter": p, "value": v}
            for p, v in (("HR", 80.0 + hour % 7), ("NIMAP", 75.0 + hour % 5), ("RespRate", 18.0), ("Temp", 37.1))]


async def call(client, url: str, path: str, body: dict) -> tuple[float, dict]:
    started = time.perf_counter()
    async with client.post(f"{url}{path}", json=body) as response:
        answer = await response.json()
        if response.status != 200:
            raise RuntimeError(f"{path}: {response.status} {answer}")
    return (time.perf_counter() - started) * 1000, answer


async def start(client, url: str, model: str) -> str:
    return (await call(client, url, "/sessions/start", {"model": model}))[1]["session_id"]


async def text_latency(client, url: str, histories: tuple[int, ...], steps: int) -> dict[int, tuple[float, float]]:
    """{history: (session step ms, one-shot ms)}; the histories take turns, so all see the same machine."""
    ids = {}
    for history in histories:
        ids[history] = await start(client, url, TEXT_MODEL)
        await call(client, url, "/sessions/step", {"session_id": ids[history], "text": CORPUS[:history]})
    step_ms, oneshot_ms = {h: [] for h in histories}, {h: [] for h in histories}
    for i in range(steps):
        for history in histories:
            step_ms[history].append((await call(client, url, "/sessions/step", {
                "session_id": ids[history], "text": CORPUS[history + i]}))[0])
        for history in histories:
            oneshot_ms[history].append((await call(client, url, "/generate", {
                "prompt": CORPUS[:history + i + 1], "max_new_tokens": 1, "seed": 0, "model": TEXT_MODEL}))[0])
    for session_id in ids.values():
        await call(client, url, "/sessions/end", {"session_id": session_id})
    return {h: (statistics.median(step_ms[h]), statistics.median(oneshot_ms[h])) for h in histories}


async def vitals_latency(client, url: str, histories: tuple[int, ...], steps: int) -> dict[int, tuple[float, float]]:
    """{history hours: (session step ms, one-shot ms)} for the hour after the history; a fresh stay each time."""
    step_ms, oneshot_ms = {h: [] for h in histories}, {h: [] for h in histories}
    for _ in range(steps):
        for history in histories:
            session_id = await start(client, url, VITALS_MODEL)
            past = [row for hour in range(history) for row in hour_rows(hour)]
            await call(client, url, "/sessions/step", {"session_id": session_id, "observations": past})
            step_ms[history].append((await call(client, url, "/sessions/step", {
                "session_id": session_id, "observations": hour_rows(history)}))[0])
            oneshot_ms[history].append((await call(client, url, "/vitals", {
                "observations": past + hour_rows(history), "model": VITALS_MODEL}))[0])
            await call(client, url, "/sessions/end", {"session_id": session_id})
    return {h: (statistics.median(step_ms[h]), statistics.median(oneshot_ms[h])) for h in histories}


async def throughput(client, url: str, model: str, sessions: int, rounds: int, together: bool) -> float:
    """Steps/s of `sessions` sessions each taking `rounds` steps, all at once or one at a time."""
    ids = [await start(client, url, model) for _ in range(sessions)]

    def body(session_id: str, round_: int) -> dict:
        if model == TEXT_MODEL:
            return {"session_id": session_id, "text": CORPUS[round_]}
        return {"session_id": session_id, "observations": hour_rows(round_)}

    started = time.perf_counter()
    for round_ in range(rounds):
        if together:
            await asyncio.gather(*(call(client, url, "/sessions/step", body(i, round_)) for i in ids))
        else:
            for session_id in ids:
                await call(client, url, "/sessions/step", body(session_id, round_))
    rate = sessions * rounds / (time.perf_counter() - started)
    for session_id in ids:
        await call(client, url, "/sessions/end", {"session_id": session_id})
    return rate


async def fill(store, kind, predictor, count: int) -> None:
    """`count` sessions of `predictor` in `store`, each with what a step leaves (risks, or the next scores); in one
    event loop, so that a loop per session is not measured too."""
    for _ in range(count):
        session = await store.start(predictor.name, predictor.task, predictor.initial_state(1), kind,
                                    **kind.open(predictor))
        if predictor.task == "vitals":
            session.risks = [0.1] * 47
        else:
            session.logits = np.zeros(len(predictor.vocabulary.characters), dtype=np.float32)


def memory_per_session(count: int = 1000) -> dict[str, float]:
    """Bytes per session as the service holds them (state, scores, stay), measured with tracemalloc."""
    from service.sessions import MemorySessionStore
    from service.tasks import SESSIONS
    from zoo.artifacts import ARTIFACTS_DIR
    from zoo.tasks.generation.predictor import GenerationPredictor
    from zoo.tasks.vitals.predictor import VitalsPredictor

    out = {}
    for name in ("shakespeare-gru", "shakespeare-lstm", "vitals-gru", "vitals-lstm"):
        directory = ARTIFACTS_DIR / name
        predictor = (GenerationPredictor if name.startswith("shakespeare") else VitalsPredictor)(directory, with_session=False)
        store = MemorySessionStore(max_sessions=count)
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        asyncio.run(fill(store, SESSIONS[predictor.task], predictor, count))
        out[name] = (tracemalloc.get_traced_memory()[0] - before) / count
        tracemalloc.stop()
    return out


async def measure(url: str, steps: int, sessions: int, rounds: int) -> dict:
    import aiohttp

    results: dict = {"latency_ms": {}, "steps_per_s": {}}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as client:
        await text_latency(client, url, (10,), 3)  # warm-up
        await vitals_latency(client, url, (10,), 2)
        for history, value in (await text_latency(client, url, (10, 1000), steps)).items():
            results["latency_ms"][f"text, history {history} characters"] = value
        for history, value in (await vitals_latency(client, url, (10, 47), steps)).items():
            results["latency_ms"][f"vitals, history {history} hours"] = value
        for model in (TEXT_MODEL, VITALS_MODEL):
            one = await throughput(client, url, model, sessions, rounds, together=False)
            together = await throughput(client, url, model, sessions, rounds, together=True)
            results["steps_per_s"][model] = {"one_at_a_time": one, "together": together}
    return results


def report(results: dict, sessions: int) -> str:
    latency = results["latency_ms"]
    lines = ["| step after | session step ms | one-shot recompute ms | one-shot / step |", "|---|---|---|---|"]
    for label, (step_ms, oneshot_ms) in latency.items():
        lines.append(f"| {label} | {step_ms:.2f} | {oneshot_ms:.2f} | {oneshot_ms / step_ms:.2f}x |")
    text = latency["text, history 1000 characters"][0] / latency["text, history 10 characters"][0]
    vitals = latency["vitals, history 47 hours"][0] / latency["vitals, history 10 hours"][0]
    lines += ["", f"step latency, long vs short history (target ≤ 1.2): text {text:.2f}x (1000 vs 10 characters), "
                  f"vitals {vitals:.2f}x (47 vs 10 hours)", "",
              f"| {sessions} sessions, steps/s | one at a time | all together | together / one at a time |",
              "|---|---|---|---|"]
    for model, rate in results["steps_per_s"].items():
        lines.append(f"| `{model}` | {rate['one_at_a_time']:.0f} | {rate['together']:.0f} | "
                     f"{rate['together'] / rate['one_at_a_time']:.2f}x |")
    lines += ["", "| model | bytes per session |", "|---|---|"]
    lines += [f"| `{name}` | {size:,.0f} |" for name, size in results["bytes_per_session"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="", help="an already running service; default: start one")
    parser.add_argument("--steps", type=int, default=60, help="repetitions of each latency measurement")
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=5, help="steps each session takes in the throughput runs")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.url:
        results = asyncio.run(measure(args.url, args.steps, args.sessions, args.rounds))
    else:
        env = {"RNNZOO_MAX_SESSIONS": str(max(1000, 2 * args.sessions))}
        with local_server(Path(tempfile.mkdtemp()) / "bentoml.log", env=env) as url:
            results = asyncio.run(measure(url, args.steps, args.sessions, args.rounds))
    results["bytes_per_session"] = memory_per_session()
    print(f"\nmedians of {args.steps} steps; {args.sessions} sessions x {args.rounds} steps for throughput\n")
    print(report(results, args.sessions))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
