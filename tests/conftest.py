"""Shared fixtures: the real data directory, and a real `bentoml serve` process."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def real_data_dir() -> Path | None:
    """$RNNZOO_DATA if set, else ../shared/data beside the checkout; None if SST-2 is not there."""
    candidate = Path(os.environ.get("RNNZOO_DATA") or REPO.parent / "shared" / "data")
    return candidate if (candidate / "sst2" / "dev.tsv").exists() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip("real data not found: set RNNZOO_DATA to a folder holding sst2/train.tsv and sst2/dev.tsv")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def bentoml_server(log_path: Path, env: dict[str, str] | None = None, timeout_s: float = 180.0):
    """Run `bentoml serve` from the repository root (bentofile.yaml) and yield its base URL."""
    port = free_port()
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"bentoml serve not ready in {timeout_s} s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the server forks workers: stop the whole group
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> str:
    log_path = tmp_path_factory.mktemp("server") / "bentoml.log"
    with bentoml_server(log_path) as url:
        yield url
