"""Generation speed: one stream through the service vs a bare onnxruntime step loop on the same model,
and aggregate characters/s for 1, 4 and 16 concurrent streams. Run on an otherwise idle machine:

    python -m benchmarks.generation                       # every shipped generation model
    python -m benchmarks.generation --model shakespeare-lstm --generation-threads 2
    python -m benchmarks.generation --url http://127.0.0.1:3000 --model shakespeare-gru

Without --url it starts its own `bentoml serve` (with RNNZOO_GENERATION_THREADS set to
--generation-threads, which the bare loop uses too). Bare loop and service alternate for --rounds rounds
and the medians are compared, so both see the same machine. Prints a Markdown table with the ratios
(targets: service <= 1.3x the bare loop per character; 16 streams >= 4x the characters/s of one).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from service.local_server import local_server
from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import ModelCard
from zoo.tasks.generation.predictor import GenerationPredictor

PROMPT = "ROMEO:"


def bare_loop_ms_per_char(generator: GenerationPredictor, tokens: int, seed: int) -> float:
    """The floor: sample + one onnxruntime step per character, batch 1, no server (the prompt's one call
    included: a few characters against thousands)."""
    started = time.perf_counter()
    generator.continuation(generator.vocabulary.encode(PROMPT), tokens, np.random.default_rng(seed), 0.8, 40, None)
    return (time.perf_counter() - started) * 1000 / tokens


async def stream_once(session, url: str, body: dict) -> tuple[int, float]:
    """(characters, seconds from the first to the last character event) for one /generate_stream call."""
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
    return count, (last - first) if count > 1 else 0.0


async def concurrent_chars_per_s(session, url: str, body: dict, streams: int) -> float:
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(stream_once(session, url, {**body, "seed": i}) for i in range(streams)))
    return sum(count for count, _ in outcomes) / (time.perf_counter() - started)


async def measure_model(url: str, generator: GenerationPredictor, tokens: int, levels: list[int], rounds: int) -> dict:
    import aiohttp

    body = {"prompt": PROMPT, "max_new_tokens": tokens, "seed": 1, "model": generator.name}
    bare, served = [], []
    async with aiohttp.ClientSession() as session:
        await stream_once(session, url, {**body, "max_new_tokens": 50})  # warm-up
        bare_loop_ms_per_char(generator, 50, 0)
        for round_ in range(rounds):  # alternate, so both sides see the same machine
            bare.append(bare_loop_ms_per_char(generator, tokens, round_))
            count, between = await stream_once(session, url, {**body, "seed": round_})
            served.append(between * 1000 / (count - 1))
        throughput = {level: statistics.median([await concurrent_chars_per_s(session, url, body, level)
                                                for _ in range(rounds)]) for level in levels}
    return {"bare_ms_per_char": statistics.median(bare), "service_ms_per_char": statistics.median(served),
            "chars_per_s": throughput}


def table(results: dict, levels: list[int]) -> str:
    lines = ["| model | bare loop ms/char | service ms/char | service / bare (target ≤ 1.3x) | "
             + " | ".join(f"{level} stream{'s' if level > 1 else ''} chars/s" for level in levels)
             + f" | {levels[-1]} vs {levels[0]} (target ≥ 4x) |",
             "|---|---|---|---|" + "---|" * len(levels) + "---|"]
    for name, r in results.items():
        rate = r["chars_per_s"]
        lines.append(f"| `{name}` | {r['bare_ms_per_char']:.3f} | {r['service_ms_per_char']:.3f} | "
                     f"{r['service_ms_per_char'] / r['bare_ms_per_char']:.2f}x | "
                     + " | ".join(f"{rate[level]:.0f}" for level in levels)
                     + f" | {rate[levels[-1]] / rate[levels[0]]:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="", help="comma-separated; default: every generation model in the zoo")
    parser.add_argument("--url", default="", help="an already running service; default: start one")
    parser.add_argument("--tokens", type=int, default=1000, help="characters per stream")
    parser.add_argument("--streams", default="1,4,16")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--generation-threads", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    levels = [int(x) for x in args.streams.split(",")]
    zoo_dir = Path(os.environ.get("RNNZOO_ARTIFACTS") or ARTIFACTS_DIR)
    names = args.model.split(",") if args.model else sorted(
        d.name for d in zoo_dir.iterdir() if (d / "card.json").exists() and ModelCard.load(d).task == "generation")
    generators = {name: GenerationPredictor(zoo_dir / name, ["CPUExecutionProvider"], threads=args.generation_threads)
                  for name in names}

    async def run(url: str) -> dict:
        return {name: await measure_model(url, generator, args.tokens, levels, args.rounds)
                for name, generator in generators.items()}

    if args.url:
        results = asyncio.run(run(args.url))
    else:
        env = {"RNNZOO_GENERATION_THREADS": str(args.generation_threads)}
        with local_server(Path(tempfile.mkdtemp()) / "bentoml.log", env=env) as url:
            results = asyncio.run(run(url))

    print(f"\n{args.tokens} characters per stream, {args.generation_threads} onnxruntime thread(s), "
          f"medians of {args.rounds} rounds, measured in one run\n")
    print(table(results, levels))
    if args.json:
        args.json.write_text(json.dumps({"tokens": args.tokens, "generation_threads": args.generation_threads,
                                         "models": results}, indent=2))


if __name__ == "__main__":
    main()
