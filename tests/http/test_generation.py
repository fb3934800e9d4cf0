"""/generate and /generate_stream on a real `bentoml serve`, serving a tiny model trained in the test: seeded
determinism, the stream equal to the whole answer, disconnects, and the generation benchmark's smoke run
against that server. (Bad requests get their 4xx in process, in tests/service/test_api.py.)"""
import http.client
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import training.generation.train as train_generation
from service.local_server import local_server
from tests.helpers import REPO

pytestmark = pytest.mark.http
MODEL = "test-shakespeare-gru"


@pytest.fixture(scope="module")
def generation_artifacts(tmp_path_factory, data_dir) -> Path:
    """A zoo folder holding one tiny character model, trained and exported by the real scripts."""
    root = tmp_path_factory.mktemp("generation")
    train_generation.main([
        "--model", MODEL, "--max-steps", "40", "--eval-every", "40", "--limit-chars", "40000", "--streams", "8",
        "--chunk", "32", "--threads", "1", "--data-dir", str(data_dir),
        "--checkpoint-dir", str(root / "checkpoints"), "--artifacts-dir", str(root / "artifacts"),
    ])
    return root / "artifacts"


@pytest.fixture(scope="module")
def generation_server(generation_artifacts):
    with local_server(generation_artifacts.parent / "server.log", env={"RNNZOO_ARTIFACTS": str(generation_artifacts)}) as url:
        yield url


def post(url, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("content-type"), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("content-type"), error.read().decode()


def sse_events(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


def test_seeded_generation_is_deterministic_and_stream_equals_non_stream(generation_server):
    body = {"prompt": "ROMEO:", "max_new_tokens": 120, "temperature": 0.9, "top_k": 30, "top_p": 0.95, "seed": 7}
    status, _, first = post(f"{generation_server}/generate", body)
    assert status == 200
    first = json.loads(first)
    assert first["model"] == MODEL and first["tokens_generated"] == 120 == len(first["text"])
    assert json.loads(post(f"{generation_server}/generate", body)[2]) == first

    status, content_type, stream = post(f"{generation_server}/generate_stream", body)
    assert status == 200 and content_type.startswith("text/event-stream")
    events = sse_events(stream)
    assert [kind for kind, _ in events] == ["message"] * 120 + ["done"]
    assert "".join(data["token"] for _, data in events[:-1]) == first["text"]
    assert events[-1][1] == {"model": MODEL, "text": first["text"], "tokens_generated": 120, "finish_reason": "length"}


def test_defaults_and_an_empty_prompt(generation_server):
    status, _, body = post(f"{generation_server}/generate", {"prompt": ""})
    assert status == 200 and json.loads(body)["tokens_generated"] == 200


def generated_characters(url: str) -> float:
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        metrics = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("rnnzoo_generated_characters_total"))


def test_a_client_that_disconnects_stops_its_generation(generation_server):
    before = generated_characters(generation_server)
    host, port = generation_server.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30)
    connection.request("POST", "/generate_stream", body=json.dumps({"prompt": "A", "max_new_tokens": 2000, "seed": 1}),
                       headers={"content-type": "application/json"})
    response = connection.getresponse()
    assert response.status == 200
    response.read(64)  # a few events arrive...
    connection.close()  # ...and the client goes away
    time.sleep(1.0)
    produced = generated_characters(generation_server) - before
    time.sleep(0.5)
    assert generated_characters(generation_server) - before == produced  # nothing more is generated for it
    assert produced < 2000


def test_generation_benchmark_harness_runs(generation_server, generation_artifacts, tmp_path):
    """A smoke run with tiny counts, so the benchmark cannot rot (the real run is not a test)."""
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.generation", "--model", MODEL, "--url", generation_server,
         "--tokens", "30", "--streams", "1,2", "--rounds", "1", "--json", str(tmp_path / "bench.json")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
        env={**os.environ, "RNNZOO_ARTIFACTS": str(generation_artifacts)},
    )
    assert result.returncode == 0, result.stderr
    assert f"| `{MODEL}` |" in result.stdout and "service / bare" in result.stdout
    measured = json.loads((tmp_path / "bench.json").read_text())["models"][MODEL]
    assert measured["bare_ms_per_char"] > 0 and measured["service_ms_per_char"] > 0
    assert measured["chars_per_s"]["2"] > 0
