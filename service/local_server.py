"""Run `bentoml serve` for this repository as a child process on 127.0.0.1 (tests and benchmarks)."""
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

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def local_server(log_path: Path, env: dict[str, str] | None = None, timeout_s: float = 180.0,
                 command: list[str] | None = None, ready_path: str = "/readyz", root: Path = REPO):
    """Start `bentoml serve` from the repository root `root` (pyproject.toml's [tool.bentoml.build]; another
    checkout for benchmarks.revisions), or `command` (its "{port}" filled in), wait until `ready_path` answers
    200, yield its URL."""
    port = free_port()
    command = command or [sys.executable, "-m", "bentoml", "serve", "--host", "127.0.0.1", "--port", "{port}"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [part.replace("{port}", str(port)) for part in command],
            cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            # A BentoML home of its own: serve wipes the Prometheus multiprocess folder under it at
            # start-up, which would reset the metrics of another server running beside this one.
            env={**os.environ, "BENTOML_HOME": str(Path(log_path).parent / f"bentoml-home-{port}"), **(env or {})},
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"{command[2:4]} exited with {process.returncode}:\n{Path(log_path).read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}{ready_path}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{command[2:4]} not ready in {timeout_s} s:\n{Path(log_path).read_text()[-3000:]}")
            time.sleep(0.1)
        yield url
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)  # the server forks workers: stop the whole group
            process.wait(timeout=30)
        except ProcessLookupError:  # it has stopped already (a test sent the signal itself)
            process.wait()
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
