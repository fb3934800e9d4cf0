"""What several test modules share: clients for a real server and for the app in process, and small inputs."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np


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
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        response = self.client.post(path, content=content,
                                    headers={"content-type": "application/json", **(headers or {})})
        return response.status_code, response.json()

    def get(self, path: str) -> tuple[int, str]:
        response = self.client.get(path)
        return response.status_code, response.text


def closes(count: int, seed: int = 0) -> list[float]:
    """A made-up daily price series, oldest first."""
    rng = np.random.default_rng(seed)
    return [round(40 * float(x), 4) for x in np.exp(rng.normal(0, 0.015, count).cumsum())]
