"""HTTP load from a separate process: wrk when installed (apt install wrk), else an aiohttp client run in a
child process. Both cycle through a list of JSON bodies (real SST-2 sentences, real price windows), keep
`concurrency` requests in flight for `seconds`, and report requests/s, p50, p99 and errors. At a fixed rate
(open loop), wrk sends each request at its scheduled time from a pool of connections (see _WRK_PACING).

    python -m benchmarks.load --url http://127.0.0.1:3000/sentiment --bodies bodies.json -c 64 -d 10
"""
from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass
class LoadResult:
    client: str  # "wrk" or "aiohttp"
    concurrency: int
    seconds: float
    requests: int  # answered, whatever the status
    errors: int  # non-2xx answers plus connection errors and timeouts
    requests_per_s: float  # answered with 2xx, per second
    p50_ms: float
    p99_ms: float
    late: int = 0  # open loop: requests sent more than 1 ms after their scheduled time, or never (no connection was free)
    cut_off: int = 0  # wrk: requests still in flight when the run ended (neither answered nor failed)
    error_kinds: dict[str, int] | None = None  # wrk with count_statuses: errors by HTTP status or socket error

    def to_dict(self) -> dict:
        return asdict(self)


# --- wrk -----------------------------------------------------------------------------------------------
# Each line of the bodies file is "path<TAB>body"; an empty path posts to the url's own path, so one run can mix
# endpoints (the soak). `sent` counts the requests written, so the requests a run cut off at its end are known.
_WRK_SCRIPT = """
local bodies, paths = {}, {}
local f = io.open("%s", "r")
for line in f:lines() do
  local path, body = line:match("^([^\\t]*)\\t(.*)$")
  paths[#paths + 1] = path
  bodies[#bodies + 1] = body
end
f:close()
local i = 0
sent = -1  -- wrk calls request() once in the first thread's state before the run, to check it (we run -t1)
request = function()
  i = i %% #bodies + 1
  sent = sent + 1
  local path = paths[i] ~= "" and paths[i] or nil
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, bodies[i])
end
local threads = {}
setup = function(thread) threads[#threads + 1] = thread end
done = function()
  for _, thread in ipairs(threads) do
    io.write(string.format("sent %%d\\n", thread:get("sent")))
    if thread:get("late") then io.write(string.format("late %%d\\n", thread:get("late") + unsent(thread))) end
    -- last: wrk's get of a table leaves the thread's Lua stack one value short, harmless only after the others
    for status, count in pairs(thread:get("statuses") or {}) do io.write(string.format("status %%d %%d\\n", status, count)) end
  end
end
"""

# Answers counted by status (the soak tells a 503 from a 500). Only when asked: with a response() function wrk
# keeps every answer's headers and body, client work the throughput runs do not need.
_WRK_STATUSES = """
statuses = {}
response = function(status) statuses[status] = (statuses[status] or 0) + 1 end
"""

# Open loop in wrk, which is closed-loop by design: wrk asks delay() how long a connection waits before its next
# request (its first one included), so each call claims the next slot of one global schedule (start + k / rate)
# and waits until it. Any free connection takes the next slot, so the rate holds whatever the answers do, as long
# as a connection is free; a slot no connection was free for goes out late, and is counted, so a run that fell
# behind says so. Why wrk and not the aiohttp open loop below: at 1,500 requests/s the Python client needs most
# of a core itself, falls behind its own schedule, and its p99 measured the client. LuaJIT's ffi reads the
# monotonic clock in ms.
_WRK_PACING = """
local ffi = require("ffi")
ffi.cdef[[ typedef struct { long tv_sec; long tv_nsec; } rnnzoo_timespec;
           int clock_gettime(int clock, rnnzoo_timespec *now); ]]
local now = ffi.new("rnnzoo_timespec")
local function milliseconds() ffi.C.clock_gettime(1, now); return tonumber(now.tv_sec) * 1000 + tonumber(now.tv_nsec) / 1e6 end
gap, slot, late = %f, 0, 0
delay = function()
  start = start or milliseconds()
  slot = slot + 1
  local wait = start + slot * gap - milliseconds()
  if wait < -1 then late = late + 1 end
  return math.max(0, wait)
end
-- Slots that fell due while every connection waited, and that no connection claimed before the run ended, were
-- never sent: late too. Called by done(), just after the end; a slot due in its last 100 ms is given the benefit.
unsent = function(thread)
  local due = math.floor((milliseconds() - 100 - (thread:get("start") or milliseconds())) / gap)
  return math.max(0, due - thread:get("slot"))
end
"""

_UNITS_MS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _milliseconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * _UNITS_MS[unit]


def _percentiles(output: str) -> dict[str, float]:
    """wrk's --latency lines, in ms: {"50": ..., "99": ...}. wrk pads a duration in seconds with a space
    ("     99%    2.94s "), so a line may end in blanks."""
    return {p: _milliseconds(v) for p, v in re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", output, re.MULTILINE)}


def run_wrk(url: str, bodies: list[dict], concurrency: int, seconds: float, rate: float = 0.0,
            paths: list[str] | None = None, timeout_s: float = 10.0, count_statuses: bool = False) -> LoadResult:
    """Closed loop: `concurrency` requests always in flight; with `rate`, an open loop at `rate` requests/s sent
    from `concurrency` connections. `paths` (one per body) send each body to its own path of the url's server."""
    paths = paths or [""] * len(bodies)
    with tempfile.TemporaryDirectory() as scratch:
        lines = Path(scratch) / "bodies.tsv"
        lines.write_text("".join(f"{path}\t{json.dumps(body)}\n" for path, body in zip(paths, bodies, strict=True)))
        script = Path(scratch) / "bodies.lua"
        script.write_text(_WRK_SCRIPT % lines + (_WRK_STATUSES if count_statuses else "")
                          + (_WRK_PACING % (1000.0 / rate) if rate else ""))
        # One wrk thread: the client must leave the cores to the servers it measures.
        run = subprocess.run(
            ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", f"{timeout_s:g}s",
             "--latency", "-s", str(script), url], capture_output=True, text=True, timeout=seconds + 60, check=True)
    if script.name in run.stderr:  # wrk runs on with its default GET when the script does not load: refuse that
        raise RuntimeError(f"wrk could not load its script: {run.stderr.strip()}")
    output = run.stdout
    total = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", output).group(1))
    elapsed = re.search(r"requests in ([\d.]+(?:us|ms|s|m))", output).group(1)
    elapsed_s = _milliseconds(elapsed) / 1000
    non_2xx = int(m.group(1)) if (m := re.search(r"Non-2xx or 3xx responses: (\d+)", output)) else 0
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = dict(zip(("connect", "read", "write", "timeout"), map(int, socket.groups()))) if socket else {}
    percentile = _percentiles(output)
    late = int(m.group(1)) if (m := re.search(r"^late (\d+)$", output, re.MULTILINE)) else 0
    sent = int(re.search(r"^sent (\d+)$", output, re.MULTILINE).group(1))
    statuses = {int(s): int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", output, re.MULTILINE)}
    error_kinds = {str(s): n for s, n in statuses.items() if not 200 <= s < 300} | {
        kind: n for kind, n in socket_errors.items() if n}
    return LoadResult("wrk-open-loop" if rate else "wrk", concurrency, round(elapsed_s, 2), total,
                      non_2xx + sum(socket_errors.values()), round((total - non_2xx) / elapsed_s, 1),
                      percentile.get("50", float("nan")), percentile.get("99", float("nan")), late,
                      # written, not answered, not lost to a read or write error: in flight when the run ended (wrk's
                      # timeouts are answers that came late, already in total; a connect error sends nothing). A
                      # connection the server closed is reopened silently, and its request counts here too.
                      cut_off=max(0, sent - total - socket_errors.get("read", 0) - socket_errors.get("write", 0)),
                      error_kinds=error_kinds if count_statuses else None)


# --- aiohttp (a child process, so the client does not share the benchmark's interpreter) ------------------
async def _closed_loop(url: str, bodies: list[bytes], concurrency: int, seconds: float) -> dict:
    import aiohttp

    latencies: list[float] = []
    statuses = {"ok": 0, "error": 0}
    counter = iter(range(10**12))
    deadline = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        async def worker() -> None:
            while time.perf_counter() < deadline:
                body = bodies[next(counter) % len(bodies)]
                started = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers={"content-type": "application/json"}) as response:
                        await response.read()
                        statuses["ok" if response.status < 300 else "error"] += 1
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    statuses["error"] += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    milliseconds = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    return {"client": "aiohttp", "concurrency": concurrency, "seconds": round(elapsed, 2),
            "requests": len(latencies), "errors": statuses["error"],
            "requests_per_s": round(statuses["ok"] / elapsed, 1),
            "p50_ms": float(np.percentile(milliseconds, 50)), "p99_ms": float(np.percentile(milliseconds, 99))}


async def _open_loop(url: str, bodies: list[bytes], rate: float, seconds: float) -> dict:
    """Requests sent at a fixed rate whatever the answers do; each latency counts from its scheduled send
    time, so a stalled server cannot hide its queue (no coordinated omission)."""
    import aiohttp

    latencies: list[float] = []
    statuses = {"ok": 0, "error": 0}
    count = max(1, int(rate * seconds))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:
        async def one(index: int, scheduled: float) -> None:
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                async with session.post(url, data=bodies[index % len(bodies)],
                                        headers={"content-type": "application/json"}) as response:
                    await response.read()
                    statuses["ok" if response.status < 300 else "error"] += 1
            except (aiohttp.ClientError, asyncio.TimeoutError):
                statuses["error"] += 1
            latencies.append(time.perf_counter() - scheduled)

        started = time.perf_counter() + 0.05
        await asyncio.gather(*(one(i, started + i / rate) for i in range(count)))
        elapsed = time.perf_counter() - started
    milliseconds = np.array(latencies) * 1000
    return {"client": "aiohttp-open-loop", "concurrency": 0, "seconds": round(elapsed, 2), "requests": count,
            "errors": statuses["error"], "requests_per_s": round(statuses["ok"] / elapsed, 1),
            "p50_ms": float(np.percentile(milliseconds, 50)), "p99_ms": float(np.percentile(milliseconds, 99))}


def _child(url: str, bodies: list[dict], seconds: float, *options: str) -> LoadResult:
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bodies.json"
        path.write_text(json.dumps(bodies))
        output = subprocess.run(
            [sys.executable, "-m", "benchmarks.load", "--url", url, "--bodies", str(path),
             "-d", str(seconds), *options], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    return LoadResult(**json.loads(output.strip().splitlines()[-1]))


def run_aiohttp(url: str, bodies: list[dict], concurrency: int, seconds: float) -> LoadResult:
    return _child(url, bodies, seconds, "-c", str(concurrency), "--client", "aiohttp")


def run_at_rate(url: str, bodies: list[dict], rate: float, seconds: float, client: str = "auto") -> LoadResult:
    """Open-loop load at `rate` requests/s (latency at a given throughput, e.g. half of the peak): wrk when
    installed, with a connection for every 50 requests/s (16 to 128), else the aiohttp client."""
    if client == "wrk" or (client == "auto" and shutil.which("wrk")):
        return run_wrk(url, bodies, min(128, max(16, math.ceil(rate / 50))), seconds, rate)
    return _child(url, bodies, seconds, "--rate", str(rate))


def run_load(url: str, bodies: list[dict], concurrency: int, seconds: float, client: str = "auto") -> LoadResult:
    """Closed-loop load: `concurrency` requests always in flight for `seconds`."""
    if client == "wrk" or (client == "auto" and shutil.which("wrk")):
        return run_wrk(url, bodies, concurrency, seconds)
    return run_aiohttp(url, bodies, concurrency, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--bodies", type=Path, required=True, help="a JSON list of request bodies")
    parser.add_argument("-c", "--concurrency", type=int, default=8)
    parser.add_argument("-d", "--seconds", type=float, default=10.0)
    parser.add_argument("--client", choices=["auto", "wrk", "aiohttp"], default="auto")
    parser.add_argument("--rate", type=float, default=0.0, help="open loop at this many requests/s (aiohttp)")
    args = parser.parse_args()
    bodies = json.loads(args.bodies.read_text())
    if args.rate:
        encoded = [json.dumps(body).encode() for body in bodies]
        print(json.dumps(asyncio.run(_open_loop(args.url, encoded, args.rate, args.seconds))))
    elif args.client == "aiohttp":  # the child-process side of run_aiohttp: one JSON line out
        encoded = [json.dumps(body).encode() for body in bodies]
        print(json.dumps(asyncio.run(_closed_loop(args.url, encoded, args.concurrency, args.seconds))))
    else:
        print(json.dumps(run_load(args.url, bodies, args.concurrency, args.seconds, args.client).to_dict()))


if __name__ == "__main__":
    main()
