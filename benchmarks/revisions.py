"""The service of two revisions side by side: is a change faster or slower? Each round starts `bentoml serve`
from a checkout of the other revision and from this working tree, in alternating order (the machine drifts,
and the first server of a round tends to measure faster: ratios are taken within a round, and an even
number of rounds puts each side first equally often), and measures the same load with the same client.

    python -m benchmarks.revisions HEAD~1                 # 4 rounds; run on an otherwise idle machine
    python -m benchmarks.revisions 2f9fcbc --rounds 6 --seconds 10
    python -m benchmarks.revisions 8a8a9a2 --endpoints vitals --data-dir ../shared/data   # any task's route

Per endpoint it prints requests/s at 64 connections (closed loop), p50 at 1 connection, and p50/p99 of an
open loop at a fixed rate, per round, then the median ratio this tree / the other revision.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
from pathlib import Path

from benchmarks.load import run_at_rate, run_load
from benchmarks.performance import request_bodies
from service.local_server import REPO, local_server

MEASURES = ("c64_requests_per_s", "c1_p50_ms", "open_p50_ms", "open_p99_ms")


def measure(url: str, bodies: dict[str, list[dict]], seconds: float, rate: float) -> dict[str, dict[str, float]]:
    results = {}
    for endpoint, endpoint_bodies in bodies.items():
        target = f"{url}/{endpoint}"
        run_load(target, endpoint_bodies, 8, 2.0)  # warm-up
        loaded = run_load(target, endpoint_bodies, 64, seconds)
        alone = run_load(target, endpoint_bodies, 1, seconds / 2)
        steady = run_at_rate(target, endpoint_bodies, rate, seconds)
        results[endpoint] = {"c64_requests_per_s": loaded.requests_per_s, "c1_p50_ms": alone.p50_ms,
                             "open_p50_ms": steady.p50_ms, "open_p99_ms": steady.p99_ms,
                             "errors": loaded.errors + alone.errors + steady.errors}
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("revision", help="the git revision to compare this working tree with")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0, help="per load level")
    parser.add_argument("--rate", type=float, default=400.0, help="requests/s of the open loop")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--endpoints", default="sentiment,stock_forecast",
                        help="routes to measure, comma-separated: any of benchmarks.endpoints' (every task's)")
    args = parser.parse_args(argv)
    names = args.endpoints.split(",")
    if set(names) <= {"sentiment", "stock_forecast"}:
        available = request_bodies(args.data_dir, 2000)
    else:
        from benchmarks.endpoints import bodies as every_task

        available = every_task(args.data_dir, 200)
    if unknown := [name for name in names if name not in available]:
        parser.error(f"--endpoints: unknown {', '.join(unknown)}; known: {', '.join(available)}")
    bodies = {name: available[name] for name in names}
    runs: dict[str, list[dict]] = {"other": [], "this": []}
    with tempfile.TemporaryDirectory() as scratch:
        other = Path(scratch) / "other"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(other), args.revision],
                       check=True, capture_output=True)
        try:
            for round_ in range(args.rounds):
                order = [("other", other), ("this", REPO)]
                for label, root in order if round_ % 2 == 0 else order[::-1]:
                    # PYTHONPATH: the checkout's own packages, not the editable install's
                    with local_server(Path(scratch) / f"{label}-{round_}.log", env={"PYTHONPATH": str(root)},
                                      root=root) as url:
                        runs[label].append(measure(url, bodies, args.seconds, args.rate))
                    print(f"round {round_ + 1} {label}: {runs[label][-1]}", flush=True)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(other)], capture_output=True)
    print(f"\nthis tree / {args.revision}, median of {args.rounds} rounds (ratio of each round's pair):")
    for endpoint in bodies:
        for name in MEASURES:
            ratio = statistics.median(this[endpoint][name] / other[endpoint][name]
                                      for this, other in zip(runs["this"], runs["other"]))
            values = " ".join(f"{o[endpoint][name]:.1f}->{t[endpoint][name]:.1f}" for o, t in zip(runs["other"], runs["this"]))
            print(f"  /{endpoint:15s} {name:20s} {ratio:5.2f}x   ({values})")
    return runs


if __name__ == "__main__":
    main()
