"""Generation speed: one stream through the service vs a bare onnxruntime step loop on the same model,
and aggregate characters/s for 1, 4 and 16 concurrent streams. Run on an otherwise idle machine:

    python -m service.benchmarks.generation --model shakespeare-lstm          # starts its own server
    python -m service.benchmarks.generation --url http://127.0.0.1:3000 --tokens 300

Prints a Markdown table with the ratios (targets: service <= 1.3x the bare loop per character;
16 streams >= 4x the characters/s of one).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from service.local_server import local_server
from zoo.runtime import ARTIFACTS_DIR, CharGenerator
from zoo.sampling import next_token


def bare_loop_ms_per_char(generator: CharGenerator, prompt: str, tokens: int, seed: int) -> float:
    """The floor: sample + one onnxruntime step per character, batch 1, no server."""
    rng = np.random.default_rng(seed)
    logits, state = generator.step(generator.vocabulary.encode(prompt)[None, :], generator.initial_state(1))
    started = time.perf_counter()
    for _ in range(tokens):
        token = next_token(logits[0, -1], rng, 0.8, 40, None)
        logits, state = generator.step(np.array([[token]], dtype=np.int64), state)
    return (time.perf_counter() - started) * 1000 / tokens


async def stream_once(session, url: str, body: dict) -> tuple[int, float, float]:
    """(characters, seconds from first to last event, seconds in all) for one /generate_stream call."""
    started = time.perf_counter()
    first = last = None
    count = 0
    async with session.post(f"{url}/generate_stream", json=body) as response:
        response.raise_for_status()
        async for line in response.content:
            if line.startswith(b"data: {\"token\""):
                now = time.perf_counter()
                first = first or now
                last = now
                count += 1
    return count, (last - first) if count > 1 else 0.0, time.perf_counter() - started


async def service_runs(url: str, model: str, tokens: int, concurrency_levels: list[int]):
    import aiohttp

    results = {}
    async with aiohttp.ClientSession() as session:
        body = {"prompt": "ROMEO:", "max_new_tokens": tokens, "seed": 1, "model": model}
        await stream_once(session, url, {**body, "max_new_tokens": 20})  # warm-up
        count, between, _ = await stream_once(session, url, body)
        results["ms_per_char"] = between * 1000 / (count - 1)
        for streams in concurrency_levels:
            started = time.perf_counter()
            outcomes = await asyncio.gather(*(stream_once(session, url, {**body, "seed": i}) for i in range(streams)))
            elapsed = time.perf_counter() - started
            results[streams] = sum(count for count, _, _ in outcomes) / elapsed
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="shakespeare-lstm")
    parser.add_argument("--url", default="", help="an already running service; default: start one")
    parser.add_argument("--tokens", type=int, default=400)
    parser.add_argument("--streams", default="1,4,16")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    levels = [int(x) for x in args.streams.split(",")]

    generator = CharGenerator(Path(os.environ.get("RNNZOO_ARTIFACTS") or ARTIFACTS_DIR) / args.model,
                              ["CPUExecutionProvider"])
    bare_loop_ms_per_char(generator, "ROMEO:", 50, 0)  # warm-up
    bare = bare_loop_ms_per_char(generator, "ROMEO:", args.tokens, 1)
    if args.url:
        served = asyncio.run(service_runs(args.url, args.model, args.tokens, levels))
    else:
        with local_server(Path(tempfile.mkdtemp()) / "bentoml.log") as url:
            served = asyncio.run(service_runs(url, args.model, args.tokens, levels))

    print(f"\n{args.model}, {args.tokens} characters per stream, measured in one run\n")
    print("| measurement | value | ratio |")
    print("|---|---|---|")
    print(f"| bare onnxruntime step loop, ms/char | {bare:.3f} | 1.00x |")
    print(f"| service, one stream, ms/char | {served['ms_per_char']:.3f} | {served['ms_per_char'] / bare:.2f}x the bare loop |")
    for level in levels:
        print(f"| service, {level} concurrent streams, chars/s | {served[level]:.0f} | "
              f"{served[level] / served[levels[0]]:.2f}x {levels[0]} stream(s) |")
    if args.json:
        args.json.write_text(json.dumps({"model": args.model, "bare_ms_per_char": bare, **{str(k): v for k, v in served.items()}}, indent=2))


if __name__ == "__main__":
    main()
