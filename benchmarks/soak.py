"""Soak test: a mix of every one-shot endpoint at about 70% of the measured peak, for a bounded time, on
127.0.0.1 only. Reports errors, p50/p99 per time window and the server's memory growth.

    python -m benchmarks.soak --minutes 10                 # starts its own `bentoml serve`
    python -m benchmarks.soak --minutes 0.5 --json out.json   # the short version (the tests run it)

First a closed-loop probe (32 connections, the same mix, the same client) measures the peak; then an open loop
sends at `--load` x that rate (requests scheduled at fixed times whatever the answers do, so a stalled server cannot
slow the client down and hide its queue). Memory is the server's process tree (RSS), sampled each window;
growth is measured from the end of the first window (after warm-up) to the last.

The open loop is wrk when it is installed (`--client auto`), one run per window: at 800 requests/s a Python
client needs most of a core of the two, and a burst of its own work looked like the server's. wrk measures each
latency from the moment the request is written; a request whose slot came while every connection was busy is
counted as late instead (the soak opens a connection for each request a second, so that takes a second of queue),
and one still in flight when a window's run ended is counted as cut off. `--client aiohttp` is the Python open
loop, which counts each latency from the scheduled time.

Two diagnostics say where a stall came from, should one happen: each window records how the kernel's TCP and
memory counters moved (a full accept queue drops connections and the client retries them seconds later; pages the
kernel took back must be faulted in again; either looks like a stalled server but is not one), and with
`--stall-dumps DIR` a watchdog runs `py-spy dump` on the server's processes when a request has waited
`--stall-seconds` (with wrk: a canary request sent each second), so the stacks of the stalled moment are kept.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import numpy as np
import psutil

from benchmarks.load import run_wrk
from benchmarks.performance import process_memory, server_pid
from service.local_server import local_server

# TcpExt counters that move when connections, not the server, are the trouble: a full accept queue
# (ListenOverflows/ListenDrops), lost SYNs sent again (TCPSynRetrans), retransmission timeouts (TCPTimeouts)
TCP_COUNTERS = ("ListenOverflows", "ListenDrops", "TCPSynRetrans", "TCPTimeouts")
# /proc/vmstat counters that move when the kernel took pages back and the processes fault them in again (major
# faults, refaults of file pages such as the mapped onnxruntime and Python libraries): a stall with no CPU reason
MEMORY_COUNTERS = ("pgmajfault", "workingset_refault_file", "workingset_refault_anon", "pswpin")
# /proc/stat: time (1/100 s ticks) the hypervisor ran another guest on this machine's cores, a stall nobody here made
CPU_COUNTERS = ("steal_ticks",)

# (endpoint, share of requests); generation is short so one request stays comparable to the others
MIX = (("sentiment", 0.5), ("stock_forecast", 0.3), ("vitals", 0.15), ("generate", 0.05))


def mixed_bodies(data_dir: str | None, count: int, seed: int = 0) -> list[tuple[str, bytes]]:
    from training.forecasting.data import load_stocks
    from training.forecasting.windows import make_windows
    from training.sentiment.data import load_sst2
    from training.vitals.data import load_physionet

    rng = np.random.default_rng(seed)
    sentences = load_sst2("dev", data_dir).texts
    windows = np.exp(make_windows(load_stocks(), "test").log_closes)
    from zoo.tasks.vitals.records import parse_record_text

    # stays with at least one measurement: a descriptors-only record is a (correct) 400, not load
    records = [s.record_text for s in load_physionet("set-b", data_dir)[:250] if parse_record_text(s.record_text).rows]
    prompts = ["ROMEO:", "JULIET:", "First Citizen:\n", "KING HENRY:", ""]
    make = {
        "sentiment": lambda i: {"texts": [sentences[i % len(sentences)]]},
        "stock_forecast": lambda i: {"closes": [round(float(x), 4) for x in windows[i % len(windows)]]},
        "vitals": lambda i: {"record": records[i % len(records)]},
        "generate": lambda i: {"prompt": prompts[i % len(prompts)], "max_new_tokens": 20, "seed": i},
    }
    endpoints = rng.choice([e for e, _ in MIX], size=count, p=[share for _, share in MIX])
    return [(endpoint, json.dumps(make[endpoint](i)).encode()) for i, endpoint in enumerate(endpoints)]


def kernel_counters() -> dict[str, int]:
    """The kernel's counters named in TCP_COUNTERS (TcpExt), MEMORY_COUNTERS and CPU_COUNTERS, machine-wide since
    boot (Linux; {} elsewhere)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
        memory = Path("/proc/vmstat").read_text().split()
        cpu = Path("/proc/stat").read_text().split("\n", 1)[0].split()  # cpu user nice system idle ... steal
    except OSError:
        return {}
    names, values = (line.split()[1:] for line in lines if line.startswith("TcpExt:"))
    counters = {name: int(value) for name, value in zip(names, values) if name in TCP_COUNTERS}
    counters |= {name: int(value) for name, value in zip(memory[::2], memory[1::2]) if name in MEMORY_COUNTERS}
    return counters | {"steal_ticks": int(cpu[8])}


def dump_stacks(pid: int, directory: Path, label: str) -> Path | None:
    """`py-spy dump` of every Python process in the server's tree, into directory/stall-<label>.txt."""
    # the venv's bin is not on PATH when the soak runs as .venv/bin/python -m benchmarks.soak
    spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if not spy:
        return None
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"stall-{label}.txt"
    with path.open("w") as out:
        for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
            out.write(f"=== pid {process.pid}: {' '.join(process.cmdline())[:200]}\n")
            out.flush()
            subprocess.run([spy, "dump", "--pid", str(process.pid)], stdout=out, stderr=subprocess.STDOUT,
                           timeout=30, check=False)
    return path


async def _post(session, url: str, endpoint: str, body: bytes) -> str:
    """"ok", or what went wrong: the status and the start of the answer, or the client-side error."""
    import aiohttp

    try:
        async with session.post(f"{url}/{endpoint}", data=body, headers={"content-type": "application/json"}) as r:
            text = await r.text()
            return "ok" if r.status < 300 else f"{endpoint} {r.status} {text[:120]}"
    except (aiohttp.ClientError, asyncio.TimeoutError) as error:
        return f"{endpoint} {type(error).__name__} {str(error)[:120]}"


async def probe_peak(url: str, bodies: list[tuple[str, bytes]], seconds: float, concurrency: int = 32) -> float:
    import aiohttp

    done = 0
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**12))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def worker():
            nonlocal done
            while time.perf_counter() < deadline:
                endpoint, body = bodies[next(counter) % len(bodies)]
                ok = await _post(session, url, endpoint, body) == "ok"  # not `done += await ...`: that
                done += ok  # reads `done` before the await and drops every other worker's count meanwhile

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def open_loop(url: str, bodies: list[tuple[str, bytes]], rate: float, seconds: float, window_s: float,
                    pid: int | None, stall_dumps: Path | None = None, stall_s: float = 5.0) -> tuple[list[dict], list[str]]:
    """Per-window results, and the stack dumps the watchdog wrote."""
    import aiohttp

    windows: list[dict] = []
    dumps: list[str] = []
    waiting: dict[int, float] = {}  # index -> scheduled time, of the requests not answered yet (oldest first)
    records: list[tuple[float, float, str, str]] = []  # (scheduled offset, latency, outcome, endpoint)
    count = int(rate * seconds)
    timeout = aiohttp.ClientTimeout(total=30)
    # The client closes idle connections (2 s) before the server does (5 s): otherwise a request can go out
    # on a connection the server is closing that instant and fail, a race of the client's own making.
    connector = aiohttp.TCPConnector(limit=1024, keepalive_timeout=2.0)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        start = time.perf_counter() + 0.1
        in_flight: set[asyncio.Task] = set()

        async def one(index: int, scheduled: float) -> None:
            endpoint, body = bodies[index % len(bodies)]
            waiting[index] = scheduled
            outcome = await _post(session, url, endpoint, body)
            del waiting[index]
            records.append((scheduled - start, time.perf_counter() - scheduled, outcome, endpoint))

        async def sample_memory() -> None:
            counters = kernel_counters()
            for window in range(int(np.ceil(seconds / window_s))):
                await asyncio.sleep(max(0.0, start + (window + 1) * window_s - time.perf_counter()))
                now = kernel_counters()
                windows.append({"end_s": round((window + 1) * window_s, 1),
                                "rss_mb": process_memory(pid)["rss_mb"] if pid else float("nan"),
                                "kernel": {name: now[name] - counters.get(name, 0) for name in now}})
                counters = now

        async def watchdog() -> None:  # at most 3 dumps, at least 10 s apart: a stall, not a flood of files
            while len(dumps) < 3:
                await asyncio.sleep(1.0)
                oldest = next(iter(waiting.values()), None)
                if oldest is not None and time.perf_counter() - oldest > stall_s:
                    label = f"{time.perf_counter() - start:.0f}s"
                    if path := await asyncio.to_thread(dump_stacks, pid, stall_dumps, label):
                        dumps.append(str(path))
                    await asyncio.sleep(10.0)

        sampler = asyncio.ensure_future(sample_memory())
        guard = asyncio.ensure_future(watchdog()) if stall_dumps and pid else None
        for index in range(count):  # each request is made when it is due, not all up front
            scheduled = start + index / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.ensure_future(one(index, scheduled))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        await asyncio.gather(*in_flight)
        await sampler
        if guard:
            guard.cancel()
    for window in windows:
        inside = [r for r in records if window["end_s"] - window_s <= r[0] < window["end_s"]]
        latencies = np.array([r[1] for r in inside]) * 1000 if inside else np.array([np.nan])
        window.update(requests=len(inside), errors=sum(r[2] != "ok" for r in inside),
                      error_kinds=dict(Counter(r[2] for r in inside if r[2] != "ok").most_common(5)),
                      p50_ms=round(float(np.percentile(latencies, 50)), 1),
                      p99_ms=round(float(np.percentile(latencies, 99)), 1))
    return windows, dumps


class Canary:
    """The watchdog of the wrk open loop, whose requests Python cannot see: one /sentiment request a second, on a
    thread. A canary is given up after `stall_s` (counted as a timeout); then, with `stall_dumps`, the server's
    stacks are dumped (at most 3, at least 10 s apart) while the stall lasts."""

    def __init__(self, url: str, body: bytes, pid: int | None, stall_dumps: Path | None, stall_s: float):
        self.url, self.body, self.pid, self.stall_dumps, self.stall_s = url, body, pid, stall_dumps, stall_s
        self.answers: list[tuple[float, float, bool]] = []  # (answered or given up at, seconds waited, timed out)
        self.waiting_since: float | None = None  # the canary in flight
        self.lock = threading.Lock()
        self.dumps: list[str] = []
        self.last_dump = -math.inf
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        # straight to 127.0.0.1: urllib would otherwise follow an http_proxy from the environment
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def _answered(self) -> bool:
        """True once answered, whatever the status (a 503 from the admission limit is an answer, and a quick
        one); False when no answer came within stall_s, or a broken one."""
        request = urllib.request.Request(f"{self.url}/sentiment", self.body, {"content-type": "application/json"})
        try:
            with self.opener.open(request, timeout=self.stall_s) as answer:
                answer.read()
        except urllib.error.HTTPError as error:
            error.read()
        except (OSError, http.client.HTTPException):
            return False
        return True

    def _dump(self) -> None:
        if not (self.stall_dumps and self.pid) or len(self.dumps) >= 3 or time.perf_counter() - self.last_dump < 10:
            return
        self.last_dump = time.perf_counter()
        try:
            if path := dump_stacks(self.pid, self.stall_dumps, f"{self.last_dump - self.begun:.0f}s"):
                self.dumps.append(str(path))
        except (OSError, subprocess.SubprocessError, psutil.Error) as error:  # a diagnostic must not end the soak
            self.dumps.append(f"failed: {error}")

    def _run(self) -> None:
        self.begun = time.perf_counter()
        while not self.stop.is_set():
            sent = self.waiting_since = time.perf_counter()
            answered = self._answered()
            with self.lock:
                self.answers.append((time.perf_counter(), time.perf_counter() - sent, not answered))
                self.waiting_since = None
            if not answered:
                self._dump()
            self.stop.wait(max(0.0, 1.0 - (time.perf_counter() - sent)))

    def window(self, since: float, until: float) -> dict:
        """The slowest canary answered or given up in [since, until), or still waiting at `until` (counted with
        the time it has waited so far, so a stall shows in the window it happened in), and how many timed out."""
        with self.lock:
            inside = [(seconds, out) for at, seconds, out in self.answers if since <= at < until]
            if self.waiting_since is not None:
                inside.append((until - self.waiting_since, False))
        return {"canary_worst_ms": round(1000 * max(seconds for seconds, _ in inside), 1) if inside else None,
                "canary_timeouts": sum(out for _, out in inside)}


def for_wrk(bodies: list[tuple[str, bytes]]) -> tuple[list[dict], list[str]]:
    """The mix as run_wrk takes it: the bodies, and the path each goes to."""
    return [json.loads(body) for _, body in bodies], [f"/{endpoint}" for endpoint, _ in bodies]


def wrk_probe(url: str, bodies: list[tuple[str, bytes]], seconds: float, concurrency: int = 32) -> float:
    """The closed-loop peak from wrk (`concurrency` requests always in flight): answered with 2xx, per second."""
    payloads, paths = for_wrk(bodies)
    return run_wrk(f"{url}/", payloads, concurrency, seconds, paths=paths).requests_per_s


def cpu_seconds(pid: int | None) -> float:
    """CPU time (user + system) the server's process tree has used so far; workers that ended are not counted."""
    if not pid:
        return float("nan")
    total = 0.0
    for process in [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]:
        try:
            times = process.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def children_cpu_seconds() -> float:
    """CPU time of this process's children that have ended: the wrk runs (and py-spy, should it run)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _finite_ms(value: float) -> float | None:
    """A latency for the JSON: None where wrk had none (NaN is not JSON)."""
    return round(value, 1) if math.isfinite(value) else None


def wrk_open_loop(url: str, bodies: list[tuple[str, bytes]], rate: float, seconds: float, window_s: float,
                  pid: int | None, stall_dumps: Path | None = None, stall_s: float = 5.0,
                  connections: int = 64) -> tuple[list[dict], list[str]]:
    """Per-window results and the canary's stack dumps, from one wrk run per window: wrk reports a run, not its
    parts. Each window starts at another place in the bodies, so windows do not repeat one another."""
    payloads, paths = for_wrk(bodies)
    canary = Canary(url, json.dumps({"texts": ["a steady canary"]}).encode(), pid, stall_dumps, stall_s)
    canary.thread.start()
    windows: list[dict] = []
    start = time.perf_counter()
    try:
        for window in range(max(1, round(seconds / window_s))):
            counters, began = kernel_counters(), time.perf_counter()
            server_cpu, client_cpu = cpu_seconds(pid), children_cpu_seconds()
            shift = (window * 997) % len(bodies)
            try:
                result = run_wrk(f"{url}/", payloads[shift:] + payloads[:shift], connections, window_s, rate,
                                 paths=paths[shift:] + paths[:shift], timeout_s=30.0, count_statuses=True)
            except (subprocess.SubprocessError, RuntimeError, AttributeError, ValueError) as error:
                # wrk failed (or printed what it cannot be read from): the window says so, the soak goes on
                result, client_error = None, f"{type(error).__name__}: {str(error)[:300]}"
            now, ended = kernel_counters(), time.perf_counter()
            elapsed = ended - began
            windows.append({
                "end_s": round(ended - start, 1), "rss_mb": process_memory(pid)["rss_mb"] if pid else float("nan"),
                "kernel": {name: now[name] - counters.get(name, 0) for name in now},
                "requests": result.requests if result else 0, "errors": result.errors if result else 0,
                "error_kinds": result.error_kinds if result else {"load client failed": 1},
                "p50_ms": _finite_ms(result.p50_ms) if result else None,
                "p99_ms": _finite_ms(result.p99_ms) if result else None,
                "late": result.late if result else 0, "cut_off": result.cut_off if result else 0,
                **({} if result else {"client_error": client_error}), **canary.window(began, ended),
                # of the machine's cores, how many the server and the load client kept busy
                "server_cores": round((cpu_seconds(pid) - server_cpu) / elapsed, 2),
                "client_cores": round((children_cpu_seconds() - client_cpu) / elapsed, 2)})
    finally:
        canary.stop.set()
        canary.thread.join()
    return windows, canary.dumps


def soak(url: str, data_dir: str | None, minutes: float, load: float, probe_s: float, window_s: float,
         pid: int | None, stall_dumps: Path | None = None, stall_s: float = 5.0, rate: float = 0.0,
         client: str = "auto", connections: int = 0) -> dict:
    """`rate` (requests/s), if given, is offered instead of `load` x the probed peak: the probe varies by a fifth
    from run to run, so comparing two servers at one load needs one rate."""
    bodies = mixed_bodies(data_dir, 4000)
    client = ("wrk" if shutil.which("wrk") else "aiohttp") if client == "auto" else client
    # the probe uses the open loop's client: the Python client's own CPU would lower the peak by a fifth or more
    peak = wrk_probe(url, bodies, probe_s) if client == "wrk" else asyncio.run(probe_peak(url, bodies, probe_s))
    offered = rate or peak * load
    # wrk's connections: by default one for each request a second (64 to 1,024), a second of answers in flight
    # before a slot goes late
    connections = (connections or min(1024, max(64, math.ceil(offered)))) if client == "wrk" else 0
    if client == "wrk":
        windows, dumps = wrk_open_loop(url, bodies, offered, minutes * 60, window_s, pid, stall_dumps, stall_s,
                                       connections)
    else:
        windows, dumps = asyncio.run(open_loop(url, bodies, offered, minutes * 60, window_s, pid, stall_dumps, stall_s))
    first, last = windows[0]["rss_mb"], windows[-1]["rss_mb"]
    return {"minutes": minutes, "client": client, "connections": connections, "mix": dict(MIX),
            "peak_requests_per_s": round(peak, 1), "offered_requests_per_s": round(offered, 1),
            "requests": sum(w["requests"] for w in windows), "errors": sum(w["errors"] for w in windows),
            "late": sum(w.get("late", 0) for w in windows), "cut_off": sum(w.get("cut_off", 0) for w in windows),
            "load_client_failures": sum("client_error" in w for w in windows),
            "worst_window_p99_ms": max((w["p99_ms"] for w in windows if w["p99_ms"] is not None
                                        and math.isfinite(w["p99_ms"])), default=None),
            "rss_growth": round((last - first) / first, 4) if first == first else None,
            "kernel": {name: sum(w["kernel"].get(name, 0) for w in windows)
                       for name in TCP_COUNTERS + MEMORY_COUNTERS + CPU_COUNTERS},
            "stall_dumps": dumps, "windows": windows}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--load", type=float, default=0.7, help="fraction of the probed peak to offer")
    parser.add_argument("--rate", type=float, default=0.0, help="offer this many requests/s instead of --load x peak")
    parser.add_argument("--probe-seconds", type=float, default=10.0)
    parser.add_argument("--window-seconds", type=float, default=30.0)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--server-log", type=Path, default=None, help="keep the server's log here (default: dropped)")
    parser.add_argument("--stall-dumps", type=Path, default=None,
                        help="write the server's stacks (py-spy dump) here when a request has waited --stall-seconds")
    parser.add_argument("--stall-seconds", type=float, default=5.0)
    parser.add_argument("--client", choices=["auto", "wrk", "aiohttp"], default="auto",
                        help="the open loop's client: wrk when installed (auto), else Python's aiohttp")
    parser.add_argument("--connections", type=int, default=0,
                        help="wrk's connections (default: one for each request a second, 64 to 1,024); past the "
                             "server's RNNZOO_MAX_IN_PROGRESS, an overload meets the admission limit")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as logs, local_server(args.server_log or Path(logs) / "bentoml.log") as url:
        result = soak(url, args.data_dir, args.minutes, args.load, args.probe_seconds, args.window_seconds,
                      server_pid(url), args.stall_dumps, args.stall_seconds, args.rate, args.client,
                      args.connections)
    print(f"peak {result['peak_requests_per_s']} req/s; offered {result['offered_requests_per_s']} for "
          f"{args.minutes} min ({result['client']}): {result['requests']} requests, {result['errors']} errors, "
          f"{result['late']} late, {result['cut_off']} cut off, worst window p99 "
          f"{result['worst_window_p99_ms']} ms, RSS growth {100 * result['rss_growth']:.1f}%; kernel "
          f"{result['kernel']}; stack dumps {result['stall_dumps'] or 'none'}")
    for window in result["windows"]:
        kernel = " ".join(f"{name} {count}" for name, count in window["kernel"].items() if count)
        extra = (f"  late {window['late']}  cut off {window['cut_off']}  canary {window['canary_worst_ms']} ms "
                 f"({window['canary_timeouts']} timed out)  cores: server {window['server_cores']}, wrk "
                 f"{window['client_cores']}" if "late" in window else "")
        p50, p99 = (f"{window[name]:7.1f}" if window[name] is not None else "      -" for name in ("p50_ms", "p99_ms"))
        print(f"  {window['end_s']:7.1f} s  {window['requests']:6d} req  {window['errors']:3d} err  p50 "
              f"{p50}  p99 {p99} ms  RSS {window['rss_mb']:.0f} MB{extra}  "
              f"{window['error_kinds'] or ''} {kernel}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
