"""What several test modules share: the repository's root, clients for a real server and for the app in
process, small inputs, and readers of the service's metrics."""
from __future__ import annotations

import csv
import io
import json
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent  # the checkout: every test finds files from here, at any depth

# The property-based tests' budget (hypothesis): 200 examples per parser, no deadline.
PROPERTY_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def post(url: str, body) -> tuple[int, dict | list]:
    """POST JSON (or raw bytes) to a real server; (status, decoded JSON body), errors included."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


class InProcess:
    """The service's ASGI app (middleware, validation, endpoints) called in this process: no server, no
    sockets. What needs a process (batching under load, streaming, signals, faults) uses `server`."""

    def __init__(self, client):
        self.client = client

    def post(self, path: str, body, headers: dict | None = None) -> tuple[int, dict | list]:
        response = self._post(path, body, headers)
        return response.status_code, response.json()

    def post_text(self, path: str, body, headers: dict | None = None) -> tuple[int, str]:
        """(status, the body as sent): for answers checked as text, as a real client reads them."""
        response = self._post(path, body, headers)
        return response.status_code, response.text

    def _post(self, path: str, body, headers: dict | None):
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.client.post(path, content=content, headers={"content-type": "application/json", **(headers or {})})

    def get(self, path: str) -> tuple[int, str]:
        response = self.client.get(path)
        return response.status_code, response.text


def closes(count: int, seed: int = 0) -> list[float]:
    """A made-up daily price series, oldest first."""
    rng = np.random.default_rng(seed)
    return [round(40 * float(x), 4) for x in np.exp(rng.normal(0, 0.015, count).cumsum())]


def walk(count: int, seed: int = 0) -> np.ndarray:
    """A made-up positive price series (a geometric random walk)."""
    return 50 * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.02, count)))


# A few invented rows in SST-2's layout (trailing space, PTB tokens); no real data is committed.
SST2_PAYLOAD = (
    "sentence\tlabel\n"
    "a slow film about nothing much \t0\n"
    "the jokes land with a dull thud \t0\n"
    "warm , funny and wise about growing up \t1\n"
    "never rises above its tired premise \t0\n"
    "does n't -lrb- quite -rrb- work \t0\n"
    "the best cast of the year \t1\n"
).encode()


def record_rows(record_text: str) -> list[tuple[str, str, float]]:
    """A PhysioNet record's (time, parameter, value) rows, header dropped."""
    return [(t, p, float(v)) for t, p, v in list(csv.reader(io.StringIO(record_text.strip())))[1:]]


def observations(record_text: str) -> list[dict]:
    """A PhysioNet record as the JSON rows `/vitals` and `/sessions/step` take."""
    return [{"time": t, "parameter": p, "value": v} for t, p, v in record_rows(record_text)]


def merged_rows(metrics: str, task: str) -> tuple[float, float]:
    """(rows, onnxruntime calls) of a task so far, from the service's batch-size histogram."""
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith("rnnzoo_batch_size_sum") and f'task="{task}"' in line:
            total += float(line.rsplit(" ", 1)[1])
        if line.startswith("rnnzoo_batch_size_count") and f'task="{task}"' in line:
            count += float(line.rsplit(" ", 1)[1])
    return total, count


# A few lines in tinyshakespeare's layout, repeated: a character model's text without the data set.
SHAKESPEARE_LINES = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 20


# A PhysioNet 2012 record file: descriptors, a clipped Temp, two readings in hour 0, and the last minute, 48:00.
VITALS_RECORD = """Time,Parameter,Value
00:00,RecordID,132539
00:00,Age,54
00:00,Gender,0
00:00,Height,-1
00:00,ICUType,4
00:00,Weight,-1
00:07,HR,73
00:07,NIMAP,92.33
00:37,HR,77
00:37,Temp,-17.8
02:37,HR,62
02:37,MAP,80
48:00,HR,70
"""


def post_concurrently(url: str, clients: int, requests_each: int, body) -> list[int]:
    """`clients` concurrent aiohttp clients each POST `requests_each` times in turn; `body(client, request)`
    gives each JSON body. The statuses of all requests."""
    import asyncio

    import aiohttp

    async def client(session, index):
        statuses = []
        for step in range(requests_each):
            async with session.post(url, json=body(index, step)) as response:
                statuses.append(response.status)
        return statuses

    async def load():
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(*(client(session, i) for i in range(clients)))

    return [status for statuses in asyncio.run(load()) for status in statuses]


def api_workers(url: str) -> list:
    """The API worker processes (psutil) under the `bentoml serve` that local_server started for `url`."""
    import psutil

    from benchmarks.performance import server_pid

    arbiter = psutil.Process(server_pid(url))
    return [p for p in arbiter.children(recursive=True) if "_bentoml_impl.worker.service" in " ".join(p.cmdline())]


def api_worker(url: str):
    """The one API worker of a server started with the default single worker."""
    (worker,) = api_workers(url)
    return worker
