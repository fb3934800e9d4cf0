"""Run `bentoml serve` for this repository as a child process on 127.0.0.1 (tests and benchmarks)."""
from __future__ import annotations

import os
import shutil
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


class LocalRedis:
    """A redis-server child process on 127.0.0.1 (tests and benchmarks of the Redis session store), its data in
    `folder`: the append-only file fsynced on every write, as the deploy manifests run it, so a restart on the same
    folder and port keeps every acknowledged write.

        with LocalRedis(tmp_path) as redis:   # redis.url: redis://127.0.0.1:<port>/0
            redis.kill(); redis.start()       # a crash, and the restart
    """

    def __init__(self, folder: Path, port: int | None = None):
        self.folder, self.port = Path(folder), port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 20.0) -> "LocalRedis":
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: apt-get install redis-server (the README's test "
                               "command does)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--logfile", str(self.folder / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout_s
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.folder / "redis.log"
                raise RuntimeError(f"redis-server did not start: {log.read_text()[-2000:] if log.exists() else ''}")
            time.sleep(0.05)
        return self

    def answers(self) -> bool:
        """Whether it answers PING (and has loaded its data: until then it answers -LOADING)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                return connection.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to write anything more."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> "LocalRedis":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
