"""Translation throughput: sentences per second through the service at 1 and 32 concurrent clients (one sentence a
request, beam 4), beside the same sentences translated one at a time by the bare predictor in this process. Run on
an otherwise idle machine:

    python -m benchmarks.translation                      # the first registered translator, starting its own server
    python -m benchmarks.translation --url http://127.0.0.1:3000 --model multi30k-de-en-gru

Bare loop and service alternate for --rounds rounds and the medians are compared, so both see the same machine.
Prints a Markdown table with the ratios: what merging concurrent requests' beams into one decoder call buys.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from service.local_server import local_server
from training.translation.data import load_pairs
from zoo.artifacts import ARTIFACTS_DIR
from zoo.registry import list_models
from zoo.tasks.translation.predictor import TranslationPredictor


def bare_sentences_per_s(predictor: TranslationPredictor, sentences: list[str], beam: int) -> float:
    started = time.perf_counter()
    for sentence in sentences:
        predictor.translate([sentence], beam_size=beam)
    return len(sentences) / (time.perf_counter() - started)


async def service_sentences_per_s(url: str, model: str, sentences: list[str], beam: int, clients: int) -> float:
    queue = list(sentences)

    async def client(session: aiohttp.ClientSession) -> None:
        while queue:
            sentence = queue.pop()
            async with session.post(f"{url}/translate", json={"texts": [sentence], "beam_size": beam,
                                                              "model": model}) as response:
                if response.status != 200:
                    raise RuntimeError(f"{response.status}: {await response.text()}")

    async with aiohttp.ClientSession() as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        return len(sentences) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="")
    parser.add_argument("--url", default="", help="an already running service; default: start one")
    parser.add_argument("--sentences", type=int, default=128, help="validation sentences per measurement")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--clients", default="1,32")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    model = args.model or list_models("translation")[0]
    predictor = TranslationPredictor(ARTIFACTS_DIR / model, ["CPUExecutionProvider"])
    sentences = [p.german for p in load_pairs("val", args.data_dir)[: args.sentences]]
    levels = [int(c) for c in args.clients.split(",")]

    async def measure(url: str) -> dict:
        rounds = {"bare": [], **{f"c{c}": [] for c in levels}}
        await service_sentences_per_s(url, model, sentences[:8], args.beam, 4)  # warm the server
        for _ in range(args.rounds):
            rounds["bare"].append(bare_sentences_per_s(predictor, sentences, args.beam))
            for c in levels:
                rounds[f"c{c}"].append(await service_sentences_per_s(url, model, sentences, args.beam, c))
        return {key: statistics.median(values) for key, values in rounds.items()}

    if args.url:
        results = asyncio.run(measure(args.url))
    else:
        with local_server(Path(tempfile.mkdtemp()) / "bentoml.log") as url:
            results = asyncio.run(measure(url))
    print(f"\n{model}: {len(sentences)} validation sentences, beam {args.beam}, one sentence a request, medians of "
          f"{args.rounds} rounds measured in one run\n")
    print("| | sentences/s | vs one at a time in process |\n|---|---|---|")
    print(f"| bare predictor, one sentence at a time | {results['bare']:.1f} | 1.00x |")
    for c in levels:
        print(f"| service, {c} concurrent client{'s' if c > 1 else ''} | {results[f'c{c}']:.1f} | "
              f"{results[f'c{c}'] / results['bare']:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"model": model, "beam": args.beam, "results": results}, indent=2))


if __name__ == "__main__":
    main()
