"""The performance harness: one command, every number measured side by side in one run on this machine.

    python -m benchmarks.performance                 # full run (about 15 minutes), idle machine
    python -m benchmarks.performance --smoke --out /tmp/perf   # tiny counts: CI keeps it working

1. Model level, each shipped fp32 model: torch eager vs onnxruntime fp32 vs onnxruntime int8 (dynamic
   quantization, made on the fly) at batch 1, 8, 32, 128, one intra-op thread each; latency, rows/s, and
   the fraction of this core's fp32 matrix-multiply peak (a large matmul, measured in the same run) that
   the batch-128 fp32 run reaches on the recurrent layers' multiply-adds.
2. Service level: load from a separate process (wrk, else an aiohttp client) at concurrency 1, 8, 32, 64
   on /sentiment (SST-2 dev sentences, one per request) and /stock_forecast (real 61-day windows), against
   (a) this service, (b) this service with batching off, (c) the naive FastAPI + torch server, (d) Ray Serve
   with @serve.batch over the same ONNX files (when ray is installed); then p50/p99 of (a) at half of its
   peak, in an open loop.
3. Generation: ms per character for one stream, characters/s for 1, 4 and 16 streams.
4. Cold start (seconds from `bentoml serve` to /readyz 200) and memory with every model loaded.

Writes results.json, README.md (the tables) and PNG plots to --out (default benchmarks/results); the same tables
go between the performance markers of service/docs/performance.md (a test compares them).
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.load import run_at_rate, run_load
from service.local_server import local_server
from zoo import get_spec, list_models
from zoo.artifacts import ARTIFACTS_DIR, cpu_name, create_session
from zoo.cards import MODEL_FILE, ModelCard
from zoo.checks import example_inputs
from zoo.runtime import default_model
from zoo.tasks.generation.predictor import GenerationPredictor

RESULTS_DIR = Path(__file__).parent / "results"
# Steps per row at model level. Translation is left out there: its two graphs (encoder, decoder step) have no
# one-call torch twin; benchmarks/translation.py measures it end to end.
SEQUENCE = {"sentiment": 24, "generation": 64, "forecasting": 60, "vitals": 48, "music": 64,
            "speech": 34}  # speech: 1 s of audio, 30 ms a step
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}


# --- machine and peak -----------------------------------------------------------------------------------
def machine() -> dict:
    import onnxruntime

    versions = {"python": platform.python_version(), "onnxruntime": onnxruntime.__version__}
    for package in ("torch", "bentoml", "numpy"):
        try:
            versions[package] = __import__(package).__version__
        except ImportError:
            pass
    return {"cpu": cpu_name(), "cores": os.cpu_count(), "memory_gb": round(os.sysconf("SC_PAGE_SIZE") *
            os.sysconf("SC_PHYS_PAGES") / 2**30, 1), "versions": versions}


def timed(call, budget_s: float, min_runs: int = 3) -> float:
    """Median seconds per call, after one warm-up, running for about budget_s (at least min_runs)."""
    call()
    times = []
    started = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - started < budget_s:
        begin = time.perf_counter()
        call()
        times.append(time.perf_counter() - begin)
    return statistics.median(times)


def matmul_peak_gflops(budget_s: float, size: int = 1024) -> dict:
    """fp32 GFLOP/s of a large square matmul on one thread: onnxruntime's MatMul and torch.matmul."""
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak",
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, [size, size]) for n in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = create_session(model.SerializeToString(), ["CPUExecutionProvider"], threads=1)
    a, b = (np.random.default_rng(i).standard_normal((size, size), dtype=np.float32) for i in range(2))
    flops = 2 * size**3
    peak = {"onnxruntime": flops / timed(lambda: session.run(None, {"a": a, "b": b}), budget_s) / 1e9}
    try:
        import torch

        torch.set_num_threads(1)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        peak["torch"] = flops / timed(lambda: torch.matmul(ta, tb), budget_s) / 1e9
    except ImportError:
        pass
    peak["peak"] = max(peak.values())
    return {name: round(value, 1) for name, value in peak.items()}


# --- model level ----------------------------------------------------------------------------------------
def recurrent_flops(model_bytes: bytes, rows: int, steps: int) -> float:
    """Multiply-add FLOPs of the recurrent nodes (input and recurrent matmuls of every gate) for `rows`
    sequences of `steps`; heads and gate arithmetic are left out, so the fraction of peak is a floor."""
    import onnx

    model = onnx.load_from_string(model_bytes)
    shapes = {init.name.removesuffix("_fp16"): tuple(init.dims) for init in model.graph.initializer}
    casts = {node.output[0]: node.input[0].removesuffix("_fp16") for node in model.graph.node if node.op_type == "Cast"}
    total = 0.0
    for node in model.graph.node:
        if node.op_type in GATES:
            w, r = (shapes[casts.get(name, name)] for name in node.input[1:3])  # (D, G*H, I), (D, G*H, H)
            total += 2.0 * rows * steps * w[0] * (w[1] * w[2] + r[1] * r[2])
    return total


def model_level(names: list[str], batches: list[int], budget_s: float, peak_gflops: float) -> list[dict]:
    import torch

    from training.from_onnx import torch_model
    from training.quantize import quantize_file

    torch.set_num_threads(1)
    rows_out = []
    for name in names:
        directory = ARTIFACTS_DIR / name
        card = ModelCard.load(directory)
        model_bytes = (directory / MODEL_FILE).read_bytes()
        with tempfile.TemporaryDirectory() as scratch:
            int8_path = Path(scratch) / "int8.onnx"
            quantize_file(directory / MODEL_FILE, int8_path)
            sessions = {"onnxruntime fp32": create_session(model_bytes, ["CPUExecutionProvider"], threads=1),
                        "onnxruntime int8": create_session(int8_path.read_bytes(), ["CPUExecutionProvider"], threads=1)}
        network = torch_model(directory)
        for rows in batches:
            feeds = example_inputs(card, rows, SEQUENCE[card.task], np.random.default_rng(rows), whole_rows=True,
                                   zero_state=True)
            tensors = [torch.from_numpy(feeds[spec.name]) for spec in card.inputs]

            def torch_call(network=network, tensors=tensors):  # bound now: timed() calls it within this iteration
                with torch.no_grad():
                    network(*tensors)

            seconds = {"torch eager fp32": timed(torch_call, budget_s)}
            for runtime, session in sessions.items():
                seconds[runtime] = timed(lambda session=session, feeds=feeds: session.run(None, feeds), budget_s)
            flops = recurrent_flops(model_bytes, rows, SEQUENCE[card.task])
            for runtime, value in seconds.items():
                rows_out.append({
                    "model": name, "task": card.task, "cell": card.architecture.cell, "runtime": runtime,
                    "batch": rows, "steps": SEQUENCE[card.task], "latency_ms": round(value * 1000, 4),
                    "rows_per_s": round(rows / value, 1), "recurrent_gflops": round(flops / value / 1e9, 2),
                    "fraction_of_peak": round(flops / value / 1e9 / peak_gflops, 4)})
        print(f"  model level: {name} done", flush=True)
    return rows_out


# --- service level --------------------------------------------------------------------------------------
def request_bodies(data_dir: str | None, count: int) -> dict[str, list[dict]]:
    from training.forecasting.data import load_stocks
    from training.forecasting.windows import make_windows
    from training.sentiment.data import load_sst2

    sentences = load_sst2("dev", data_dir).texts
    windows = np.exp(make_windows(load_stocks(), "test").log_closes)  # (N, 61) closes
    picks = np.random.default_rng(0).permutation(len(windows))[:count]
    return {"sentiment": [{"texts": [text]} for text in sentences[:count]],
            "stock_forecast": [{"closes": [round(float(x), 4) for x in windows[i]]} for i in picks]}


def _environment(variable: str, folder: str) -> Path:
    """The python of a peer's own virtual environment: $variable, else <repository>/<folder>/bin/python."""
    return Path(os.environ.get(variable, Path(__file__).resolve().parent.parent / folder / "bin" / "python"))


TWO_WORKERS = "this service, 2 API workers (sessions in Redis)"
TRITON = "PyTriton (Triton's C++ front end, dynamic batcher)"
MLSERVER = "MLServer 1.7 (adaptive batching, parallel_workers 0)"
MLSERVER_DEFAULT = "MLServer 1.7, default settings (1 inference worker)"
TORCHSERVE = "TorchServe 0.12 (Java front end, batching, 1 backend worker)"
# The peers that run from a virtual environment of their own (each pins what the zoo's cannot hold), by their key
# in results.json: the --no-<flag> that leaves them out, their python, and the module that shows they installed.
PEER_ENVIRONMENTS = {
    "pytriton": ("triton", _environment("RNNZOO_PEERS_PYTHON", ".venv-peers"), "pytriton"),
    "mlserver": ("mlserver", _environment("RNNZOO_MLSERVER_PYTHON", ".venv-peers-mlserver"), "mlserver"),
    "torchserve": ("torchserve", _environment("RNNZOO_TORCHSERVE_PYTHON", ".venv-peers-torchserve"), "ts"),
}


def peer_installed(python: Path, modules: str) -> bool:
    """Whether `python` (a peer's own virtual environment) imports `modules` (comma-separated) and the zoo."""
    if not python.exists():
        return False
    return subprocess.run([str(python), "-c", f"import {modules}, zoo"], capture_output=True).returncode == 0


def peer_server(peer: str, module, infer_path: str, ready_path: str, *flags: str) -> dict:
    """How the harness runs a peer that serves /sentiment only: `module` (benchmarks.<peer>_server) starts it in the
    peer's own environment and turns one text into the peer's request body."""
    python = PEER_ENVIRONMENTS[peer][1]
    return {"command": [str(python), "-m", module.__name__, "--port", "{port}", *flags], "ready_path": ready_path,
            "timeout_s": 120.0,
            "endpoints": {"sentiment": (infer_path, lambda body: module.request_body(body["texts"][0]))}}


def servers(include_ray: bool, peers: frozenset[str] = frozenset()) -> dict[str, dict]:
    """Each server the harness loads: its command (default `bentoml serve`), environment, ready path, and, for a
    peer with another API, where each endpoint's requests go and how a zoo request body becomes its body.
    `peers`: the keys of PEER_ENVIRONMENTS to include."""
    from benchmarks import mlserver_server, torchserve_server, triton_server

    python = sys.executable
    configurations = {
        "this service": {"env": {}},
        "this service, batching off": {"env": {"RNNZOO_BATCHING": "off"}},
        # Two API workers share the HTTP work over both cores; they need the shared session store.
        TWO_WORKERS: {"env": {"RNNZOO_WORKERS": "2"}, "redis": True},
        "naive FastAPI + torch": {"command": [python, "-m", "benchmarks.naive_server", "--port", "{port}"]},
    }
    if include_ray:
        configurations["Ray Serve + @serve.batch"] = {
            "command": [python, "-m", "benchmarks.ray_server", "--port", "{port}"], "timeout_s": 240.0}
    if "pytriton" in peers:
        configurations[TRITON] = peer_server("pytriton", triton_server, "v2/models/sentiment/infer",
                                             "/v2/models/sentiment/ready")
    if "mlserver" in peers:
        configurations[MLSERVER] = peer_server("mlserver", mlserver_server, "v2/models/sentiment/infer",
                                               "/v2/models/sentiment/ready", "--parallel-workers", "0")
        configurations[MLSERVER_DEFAULT] = peer_server("mlserver", mlserver_server, "v2/models/sentiment/infer",
                                                       "/v2/models/sentiment/ready")
    if "torchserve" in peers:  # its /ping says healthy before the worker has loaded: the warm-up load waits for it
        configurations[TORCHSERVE] = peer_server("torchserve", torchserve_server, "predictions/sentiment", "/ping")
    return configurations


def process_memory(root_pid: int) -> dict:
    """RSS summed over the server's process tree, and PSS (shared pages split between the processes that
    map them), which is what the tree really costs the machine."""
    import psutil

    processes = [psutil.Process(root_pid), *psutil.Process(root_pid).children(recursive=True)]
    rss = pss = 0
    for process in processes:
        try:
            rss += process.memory_info().rss
            for line in Path(f"/proc/{process.pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1]) * 1024
        except (psutil.Error, OSError):
            pass
    return {"processes": len(processes), "rss_mb": round(rss / 2**20, 1), "pss_mb": round(pss / 2**20, 1)}


def server_pid(port_url: str) -> int | None:
    import psutil

    port = int(port_url.rsplit(":", 1)[1])
    for connection in psutil.net_connections("tcp"):
        if connection.status == "LISTEN" and connection.laddr.port == port and connection.pid:
            process = psutil.Process(connection.pid)
            while process.parent() and process.parent().pid != os.getpid():  # up to the child we started
                process = process.parent()
            return process.pid
    return None


def service_level(bodies: dict[str, list[dict]], levels: list[int], seconds: float, include_ray: bool,
                  log_dir: Path, generation: dict | None, peers: frozenset[str] = frozenset()) -> dict:
    from service.local_server import LocalRedis

    results: dict = {"load": [], "startup": {}, "memory_ready": {}, "memory": {}, "half_peak": {}}
    for label, config in servers(include_ray, peers).items():
        with contextlib.ExitStack() as stack:
            env = dict(config.get("env", {}))
            if config.get("redis"):
                env["RNNZOO_SESSION_STORE"] = stack.enter_context(LocalRedis(log_dir / "redis")).url
            started = time.perf_counter()
            url = stack.enter_context(local_server(
                log_dir / f"{label.split('(')[0].strip().replace(' ', '_').replace(',', '')}.log", env=env,
                command=config.get("command"), timeout_s=config.get("timeout_s", 180.0),
                ready_path=config.get("ready_path", "/readyz")))
            results["startup"][label] = round(time.perf_counter() - started, 2)
            pid = server_pid(url)
            if pid is not None:
                results["memory_ready"][label] = process_memory(pid)
            endpoints = config.get("endpoints", {endpoint: (endpoint, None) for endpoint in bodies})
            for endpoint, (path, rewrite) in endpoints.items():
                endpoint_bodies = [rewrite(b) for b in bodies[endpoint]] if rewrite else bodies[endpoint]
                run_load(f"{url}/{path}", endpoint_bodies, 8, min(2.0, seconds))  # warm-up
                for concurrency in levels:
                    result = run_load(f"{url}/{path}", endpoint_bodies, concurrency, seconds).to_dict()
                    results["load"].append({"server": label, "endpoint": endpoint, **result})
                    print(f"  {label:30.30s} /{endpoint:15s} c={concurrency:3d} {result['requests_per_s']:8.1f} req/s "
                          f"p50 {result['p50_ms']:7.1f} ms p99 {result['p99_ms']:7.1f} ms errors {result['errors']}",
                          flush=True)
            if label in ("this service", TWO_WORKERS):  # latency in an open loop at half of its own peak
                half_peak = results["half_peak"] if label == "this service" else results.setdefault(
                    "half_peak_two_workers", {})
                for endpoint, endpoint_bodies in bodies.items():
                    peak = max(r["requests_per_s"] for r in results["load"]
                               if r["server"] == label and r["endpoint"] == endpoint)
                    result = run_at_rate(f"{url}/{endpoint}", endpoint_bodies, peak / 2, seconds).to_dict()
                    half_peak[endpoint] = {"rate": round(peak / 2, 1), **result}
                    print(f"  {label}, half of peak /{endpoint}: {peak / 2:.0f} req/s offered -> "
                          f"{result['requests_per_s']:.0f} answered, p50 {result['p50_ms']:.1f} ms, p99 "
                          f"{result['p99_ms']:.1f} ms, errors {result['errors']}, late {result['late']}", flush=True)
            if label == "this service":
                if generation is not None:
                    results["generation"] = measure_generation(url, **generation)
            if pid is not None:
                results["memory"][label] = process_memory(pid)
        if "Ray" in label:  # Ray's daemons outlive its driver; leave the cores to the next server
            subprocess.run([sys.executable, "-m", "ray.scripts.scripts", "stop", "--force"], capture_output=True)
    return results


def measure_generation(url: str, tokens: int, rounds: int, levels: list[int]) -> dict:
    from benchmarks.generation import measure_model

    default = default_model([ModelCard.load(ARTIFACTS_DIR / n) for n in list_models("generation")], "generation")
    generator = GenerationPredictor(ARTIFACTS_DIR / default, ["CPUExecutionProvider"])
    measured = asyncio.run(measure_model(url, generator, tokens, levels, rounds))
    return {"model": default, "tokens": tokens, **measured,
            "chars_per_s": {str(k): round(v, 1) for k, v in measured["chars_per_s"].items()}}


# --- report -------------------------------------------------------------------------------------------
def markdown(results: dict) -> str:
    m, peak = results["machine"], results["matmul_peak_gflops"]
    batches = sorted({row["batch"] for row in results["model_level"]})
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items())
             + f". Mode: {results['mode']}; measured {results['date']}.", "",
             f"fp32 matmul peak, one thread: {peak['peak']} GFLOP/s "
             f"({', '.join(f'{k} {v}' for k, v in peak.items() if k != 'peak')}).", "",
             "**Model level** (one thread; ms per call; x = speed-up over torch eager at the same batch; "
             f"% of peak: recurrent multiply-adds of the fp32 onnxruntime run at batch {max(batches)})", ""]
    by_model: dict = {}
    for row in results["model_level"]:
        by_model.setdefault(row["model"], {})[(row["runtime"], row["batch"])] = row
    header = "| model | " + " | ".join(f"B={b} torch / ort fp32 / ort int8" for b in batches) + " | % of peak |"
    lines += [header, "|---|" + "---|" * len(batches) + "---|"]
    for name, rows in by_model.items():
        cells = []
        for b in batches:
            torch_ms = rows[("torch eager fp32", b)]["latency_ms"]
            fp32, int8 = rows[("onnxruntime fp32", b)]["latency_ms"], rows[("onnxruntime int8", b)]["latency_ms"]
            cells.append(f"{torch_ms:.2f} / {fp32:.2f} ({torch_ms / fp32:.1f}x) / {int8:.2f} ({torch_ms / int8:.1f}x)")
        fraction = rows[("onnxruntime fp32", batches[-1])]["fraction_of_peak"]
        lines.append(f"| `{name}` | " + " | ".join(cells) + f" | {100 * fraction:.0f}% |")
    service = results.get("service_level")
    if service:
        lines += ["", "**Service level** (requests/s, p50 / p99 ms, errors; one request = one text or one "
                  "61-close window; load from a separate process)", ""]
        levels = sorted({r["concurrency"] for r in service["load"]})
        for endpoint in ("sentiment", "stock_forecast"):
            lines += [f"`/{endpoint}`", "", "| server | " + " | ".join(f"c={c}" for c in levels) + " |",
                      "|---|" + "---|" * len(levels)]
            table = {(r["server"], r["concurrency"]): r for r in service["load"] if r["endpoint"] == endpoint}
            for server in dict.fromkeys(r["server"] for r in service["load"] if r["endpoint"] == endpoint):
                lines.append(f"| {server} | " + " | ".join(
                    f"{table[(server, c)]['requests_per_s']:.0f} ({table[(server, c)]['p50_ms']:.0f} / "
                    f"{table[(server, c)]['p99_ms']:.0f}, {table[(server, c)]['errors']})" for c in levels) + " |")
            top = max(levels)
            naive = table.get(("naive FastAPI + torch", top))
            ours = table[("this service", top)]
            ratios = [f"this service / naive at c={top}: **{ours['requests_per_s'] / naive['requests_per_s']:.2f}x**"
                      if naive else ""]
            ray = table.get(("Ray Serve + @serve.batch", top))
            if ray:
                ratios.append(f"this service / Ray Serve: **{ours['requests_per_s'] / ray['requests_per_s']:.2f}x**")
            triton, two = table.get((TRITON, top)), table.get((TWO_WORKERS, top))
            if triton:
                ratios.append(f"this service / PyTriton: **{ours['requests_per_s'] / triton['requests_per_s']:.2f}x**")
                if two:
                    ratios.append(f"with 2 API workers / PyTriton: **{two['requests_per_s'] / triton['requests_per_s']:.2f}x**")
                ours_1, triton_1 = table.get(("this service", min(levels))), table.get((TRITON, min(levels)))
                if ours_1 and triton_1:
                    ratios.append(f"c={min(levels)} p50 this service / PyTriton: "
                                  f"**{ours_1['p50_ms'] / triton_1['p50_ms']:.2f}x**")
            for peer, short in ((MLSERVER, "MLServer"), (MLSERVER_DEFAULT, "MLServer (defaults)"),
                                (TORCHSERVE, "TorchServe")):
                if table.get((peer, top)):
                    ratios.append(f"this service / {short}: "
                                  f"**{ours['requests_per_s'] / table[(peer, top)]['requests_per_s']:.2f}x**")
            for who, key in (("", "half_peak"), (" with 2 API workers", "half_peak_two_workers")):
                half = service.get(key, {}).get(endpoint)
                if half:
                    late = f", {half.get('late', 0)} sent late" if half["client"].startswith("wrk") else ""
                    ratios.append(f"at half of peak{who} ({half['rate']:.0f} req/s offered, open loop, "
                                  f"{half['client']}): {half['requests_per_s']:.0f} req/s answered, p50 "
                                  f"{half['p50_ms']:.1f} ms, p99 **{half['p99_ms']:.1f} ms**, {half['errors']} errors"
                                  f"{late}")
            lines += ["", "; ".join(r for r in ratios if r) + ".", ""]
        lines += ["**Cold start and memory** (seconds from process start to a 200 from the ready path; memory "
                  "of the whole process tree with every model loaded, once ready and again after the load above; "
                  "PSS splits shared pages between the processes that map them)", "",
                  "| server | start s | processes | RSS MB ready | PSS MB ready | RSS MB after load | PSS MB after load |",
                  "|---|---|---|---|---|---|---|"]
        for server, seconds in service["startup"].items():
            ready, after = service["memory_ready"].get(server, {}), service["memory"].get(server, {})
            lines.append(f"| {server} | {seconds:.2f} | {after.get('processes', '-')} | {ready.get('rss_mb', '-')} "
                         f"| {ready.get('pss_mb', '-')} | {after.get('rss_mb', '-')} | {after.get('pss_mb', '-')} |")
        generation = service.get("generation")
        if generation:
            rate = generation["chars_per_s"]
            lines += ["", f"**Generation** (`{generation['model']}`, {generation['tokens']} characters per stream): "
                      f"{generation['service_ms_per_char']:.3f} ms/char for one stream through the service "
                      f"({generation['bare_ms_per_char']:.3f} for a bare onnxruntime loop); characters/s: "
                      + ", ".join(f"{k} stream{'s' if k != '1' else ''} {v:.0f}" for k, v in rate.items()) + "."]
    return "\n".join(lines) + "\n"


def plots(results: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    names = list(dict.fromkeys(r["model"] for r in results["model_level"]))
    columns = 3
    figure, axes = plt.subplots((len(names) + columns - 1) // columns, columns, figsize=(12, 3 * ((len(names) + 2) // 3)),
                                squeeze=False)
    for axis, name in zip(axes.flat, names):
        for runtime in ("torch eager fp32", "onnxruntime fp32", "onnxruntime int8"):
            rows = [r for r in results["model_level"] if r["model"] == name and r["runtime"] == runtime]
            axis.plot([r["batch"] for r in rows], [r["rows_per_s"] for r in rows], marker="o", label=runtime)
        axis.set(title=name, xscale="log", yscale="log", xlabel="batch", ylabel="rows/s")
    for axis in list(axes.flat)[len(names):]:
        axis.axis("off")
    axes.flat[0].legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(out / "model_level.png", dpi=80)
    plt.close(figure)
    written.append("model_level.png")
    service = results.get("service_level")
    if service:
        figure, axes = plt.subplots(1, 2, figsize=(11, 3.8))
        for axis, endpoint in zip(axes, ("sentiment", "stock_forecast")):
            for server in dict.fromkeys(r["server"] for r in service["load"]):
                rows = [r for r in service["load"] if r["server"] == server and r["endpoint"] == endpoint]
                axis.plot([r["concurrency"] for r in rows], [r["requests_per_s"] for r in rows], marker="o",
                          label=server)
            axis.set(title=f"/{endpoint}", xscale="log", xlabel="concurrent clients", ylabel="requests/s")
        axes[0].legend(fontsize=8)
        figure.tight_layout()
        figure.savefig(out / "service_level.png", dpi=80)
        plt.close(figure)
        written.append("service_level.png")
    return written


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="tiny counts, one model per task (CI)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--skip-service", action="store_true", help="model level only")
    parser.add_argument("--no-ray", action="store_true", help="leave Ray Serve out even if installed")
    parser.add_argument("--no-triton", action="store_true", help="leave PyTriton out even if installed")
    parser.add_argument("--no-mlserver", action="store_true", help="leave MLServer out even if installed")
    parser.add_argument("--no-torchserve", action="store_true", help="leave TorchServe out even if installed")
    args = parser.parse_args(argv)
    smoke = args.smoke
    args.out.mkdir(parents=True, exist_ok=True)
    fp32_models = [n for n in list_models() if get_spec(n).quantized_from is None and get_spec(n).task in SEQUENCE]
    names = ["sst2-lstm", "stock-gru"] if smoke else fp32_models
    batches = [1, 8] if smoke else [1, 8, 32, 128]
    budget = 0.05 if smoke else 1.0
    results: dict = {"mode": "smoke" if smoke else "full", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "machine": machine()}
    print("matmul peak ...", flush=True)
    results["matmul_peak_gflops"] = matmul_peak_gflops(max(budget, 0.3))
    print(f"  {results['matmul_peak_gflops']}", flush=True)
    results["model_level"] = model_level(names, batches, budget, results["matmul_peak_gflops"]["peak"])
    if not args.skip_service:
        include_ray = not (smoke or args.no_ray) and importlib.util.find_spec("ray") is not None
        results["ray_serve"] = "measured" if include_ray else (
            "left out (smoke run or --no-ray)" if smoke or args.no_ray else "not installed")
        peers = set()
        for peer, (flag, python, module) in PEER_ENVIRONMENTS.items():
            if smoke or getattr(args, f"no_{flag}"):
                results[peer] = f"left out (smoke run or --no-{flag})"
            elif peer_installed(python, module):
                peers.add(peer)
                results[peer] = "measured"
            else:
                results[peer] = f"not installed ({python})"
        bodies = request_bodies(args.data_dir, 64 if smoke else 800)
        generation = ({"tokens": 20, "rounds": 1, "levels": [1, 4]} if smoke
                      else {"tokens": 1000, "rounds": 3, "levels": [1, 4, 16]})
        with tempfile.TemporaryDirectory() as logs:
            results["service_level"] = service_level(bodies, [1, 8] if smoke else [1, 8, 32, 64],
                                                     1.0 if smoke else 10.0, include_ray, Path(logs), generation,
                                                     frozenset(peers))
    results["plots"] = plots(results, args.out)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "README.md").write_text("# Performance results\n\nGenerated by `python -m benchmarks."
                                        "performance`; do not edit.\n\n" + markdown(results)
                                        + "".join(f"\n![{p}]({p})\n" for p in results["plots"]))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
