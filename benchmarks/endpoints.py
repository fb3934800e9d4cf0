"""Every task's one-shot endpoint under load, one row per request, at 1, 8, 32 and 64 connections, against one
`bentoml serve` (default settings): a regression anywhere shows here. Run on an otherwise idle machine:

    python -m benchmarks.endpoints --data-dir ../shared/data --json benchmarks/results/endpoints.json

Real rows from each task's data: an SST-2 dev sentence, a 61-close window, a PhysioNet set-b record, a
20-character Shakespeare prompt continued by 20 characters, a JSB Chorales validation piece (its first 32
frames) scored, an FSDD recording of george transcribed, and a Multi30k validation sentence translated (beam
4). Load comes from a separate process (wrk when installed, else an aiohttp client).
"""
from __future__ import annotations

import argparse
import base64
import json
import tempfile
from pathlib import Path

from benchmarks.load import run_load
from benchmarks.performance import request_bodies
from service.local_server import local_server

LEVELS = (1, 8, 32, 64)


def bodies(data_dir: str | None, count: int) -> dict[str, list[dict]]:
    """{route: request bodies, one row each}."""
    from training.music.data import load_pieces
    from training.translation.data import load_pairs
    from training.vitals.data import load_physionet
    from zoo.tasks.music.rolls import pitches_from_roll
    from zoo.tasks.vitals.records import parse_record_text

    rows = request_bodies(data_dir, count)
    corpus = ("First Citizen:\nBefore we proceed any further, hear me speak.\nAll:\nSpeak, speak.\n") * 4
    recordings = sorted((Path(data_dir or ".") / "fsdd" / "recordings").glob("*_george_*.wav"))[:count]
    return {
        "sentiment": rows["sentiment"],
        "stock_forecast": rows["stock_forecast"],
        # a few set-b records hold descriptors only, which /vitals rightly refuses (400): not load
        "vitals": [{"record": stay.record_text} for stay in load_physionet("set-b", data_dir)[: count + 10]
                   if parse_record_text(stay.record_text).rows][:count],
        "generate": [{"prompt": corpus[i % 60 : i % 60 + 20], "max_new_tokens": 20, "seed": i} for i in range(count)],
        "music/score": [{"pieces": [pitches_from_roll(piece[:32])]} for piece in load_pieces("jsb", "validation", data_dir)],
        "transcribe": [{"audio": base64.b64encode(path.read_bytes()).decode()} for path in recordings],
        "translate": [{"texts": [pair.german]} for pair in load_pairs("val", data_dir)[:count]],
    }


def measure(url: str, routes: dict[str, list[dict]], seconds: float) -> list[dict]:
    results = []
    for route, route_bodies in routes.items():
        run_load(f"{url}/{route}", route_bodies, 8, min(2.0, seconds))  # warm-up
        for concurrency in LEVELS:
            result = run_load(f"{url}/{route}", route_bodies, concurrency, seconds).to_dict()
            results.append({"endpoint": route, **result})
            print(f"  /{route:15s} c={concurrency:3d} {result['requests_per_s']:8.1f} req/s p50 "
                  f"{result['p50_ms']:7.1f} ms p99 {result['p99_ms']:7.1f} ms errors {result['errors']}", flush=True)
    return results


def report(results: list[dict]) -> str:
    lines = ["| endpoint (one row per request) | " + " | ".join(f"c={c}" for c in LEVELS) + " |",
             "|---|" + "---|" * len(LEVELS)]
    table = {(r["endpoint"], r["concurrency"]): r for r in results}
    for route in dict.fromkeys(r["endpoint"] for r in results):
        lines.append(f"| `/{route}` | " + " | ".join(
            f"{table[route, c]['requests_per_s']:.0f} ({table[route, c]['p50_ms']:.0f} / "
            f"{table[route, c]['p99_ms']:.0f}, {table[route, c]['errors']})" for c in LEVELS) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seconds", type=float, default=5.0, help="per route and level")
    parser.add_argument("--count", type=int, default=200, help="distinct request bodies per route")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    routes = bodies(args.data_dir, args.count)
    with local_server(Path(tempfile.mkdtemp()) / "bentoml.log") as url:
        results = measure(url, routes, args.seconds)
    print("\nrequests/s (p50 / p99 ms, errors)\n\n" + report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
