"""Faults against a real `bentoml serve`: broken model files, strict mode, SIGTERM with requests in flight,
and a worker killed under it."""
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import aiohttp
import pytest

from service.local_server import free_port, local_server
from tests.helpers import REPO, api_worker, get, post
from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import MODEL_FILE, ModelCard, sha256_of

pytestmark = [pytest.mark.http, pytest.mark.slow]


CLOSES = [round(40 + 0.05 * i, 2) for i in range(61)]


@pytest.fixture(scope="module")
def broken_zoo(tmp_path_factory):
    """stock-gru healthy; stock-rnn without its file; stock-lstm truncated (its card updated to the truncated
    file's sha256, so only onnxruntime can tell); vitals-rnn tampered (card unchanged); vitals-gru with a
    card that is not JSON."""
    zoo = tmp_path_factory.mktemp("zoo")
    for name in ("stock-gru", "stock-rnn", "stock-lstm", "vitals-rnn", "vitals-gru"):
        shutil.copytree(ARTIFACTS_DIR / name, zoo / name)
    (zoo / "stock-rnn" / MODEL_FILE).unlink()
    truncated = zoo / "stock-lstm" / MODEL_FILE
    truncated.write_bytes(truncated.read_bytes()[:2000])
    card = ModelCard.load(zoo / "stock-lstm")
    card.export.sha256, card.export.size_bytes = sha256_of(truncated), truncated.stat().st_size
    card.save(zoo / "stock-lstm")
    with open(zoo / "vitals-rnn" / MODEL_FILE, "ab") as model_file:
        model_file.write(b"\0")
    (zoo / "vitals-gru" / "card.json").write_text('{"name": "vitals-gru", ')
    return zoo


EXPECTED_REASONS = {"stock-rnn": "is missing", "stock-lstm": "onnxruntime cannot load the model",
                    "vitals-rnn": "refusing to load it", "vitals-gru": "is not valid JSON"}


def test_broken_models_are_listed_with_the_reason_and_the_healthy_one_is_served(broken_zoo, tmp_path):
    with local_server(tmp_path / "server.log", env={"RNNZOO_ARTIFACTS": str(broken_zoo)}) as url:
        assert get(f"{url}/readyz")[0] == 200  # ready: every model that can be served is loaded
        listing = json.loads(get(f"{url}/models")[1])
        assert [card["name"] for card in listing["models"]] == ["stock-gru"]
        assert sorted(listing["broken"]) == sorted(EXPECTED_REASONS)
        for name, reason in EXPECTED_REASONS.items():
            assert reason in listing["broken"][name], listing["broken"][name]
        assert "has sha256" in listing["broken"]["vitals-rnn"]  # the checksum, checked before any loading
        status, body = post(f"{url}/stock_forecast", {"closes": CLOSES})
        assert status == 200 and body["model"] == "stock-gru"
        status, body = post(f"{url}/stock_forecast", {"closes": CLOSES, "model": "stock-lstm"})
        assert status == 503 and "is not served" in body["error"] and "stock-gru" in body["error"]
        status, body = post(f"{url}/vitals", {"observations": [{"time": "00:10", "parameter": "HR", "value": 80}]})
        assert status == 404 and "no vitals model is loaded" in json.dumps(body)
    log = (tmp_path / "server.log").read_text()
    assert all(f"not serving {name}" in log for name in EXPECTED_REASONS)


def test_strict_mode_refuses_to_start_and_names_every_broken_model(broken_zoo, tmp_path):
    log_path = tmp_path / "strict.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        process = subprocess.run(
            [sys.executable, "-m", "bentoml", "serve", "--host", "127.0.0.1", "--port", str(free_port())],
            cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=120,
            env={**os.environ, "RNNZOO_ARTIFACTS": str(broken_zoo), "RNNZOO_STRICT": "1",
                 "BENTOML_HOME": str(tmp_path / "bentoml")})
    assert time.monotonic() - started < 60, "strict mode must stop the server, not restart the worker forever"
    text = log_path.read_text()
    assert "RNNZOO_STRICT=1 and 4 model(s) cannot be served, so the server stops" in text
    assert all(name in text for name in EXPECTED_REASONS), text[-2000:]
    assert process.returncode is not None


def test_a_killed_worker_is_replaced_and_the_service_answers_again(tmp_path):
    with local_server(tmp_path / "server.log") as url:
        worker = api_worker(url)
        worker.kill()
        worker.wait(10)
        started, answered = time.monotonic(), None
        while time.monotonic() - started < 60 and answered != 200:
            try:
                answered = post(f"{url}/sentiment", {"texts": ["back again"]})[0]
            except OSError:
                time.sleep(0.2)
        assert answered == 200, "no answer within 60 s of the worker's death"
        assert api_worker(url).pid != worker.pid


def test_sigterm_lets_requests_in_flight_finish_and_exits_promptly(tmp_path):
    log_path = tmp_path / "server.log"
    with local_server(log_path) as url:
        arbiter = api_worker(url).parent()

        async def generate(session, seed):
            try:
                async with session.post(f"{url}/generate", json={"prompt": "ROMEO:", "max_new_tokens": 1500,
                                                                  "seed": seed}) as response:
                    body = await response.json(content_type=None)
                    return response.status, body
            except aiohttp.ClientError as error:
                return None, repr(error)

        async def scenario():
            async with aiohttp.ClientSession() as session:
                requests = [asyncio.ensure_future(generate(session, seed)) for seed in range(8)]
                await asyncio.sleep(0.5)  # all eight are generating
                arbiter.send_signal(signal.SIGTERM)  # what an orchestrator does to stop the container
                stopped = time.monotonic()
                results = await asyncio.gather(*requests)
                return results, stopped

        results, stopped = asyncio.run(scenario())
        for status, body in results:  # each finished whole, or was refused cleanly
            assert (status == 200 and body["tokens_generated"] == 1500) or status == 503, (status, body)
        assert sum(status == 200 for status, _ in results) >= 1
        arbiter.wait(30)
        assert time.monotonic() - stopped < 30


def test_a_worker_at_its_limit_refuses_at_once_with_503_and_takes_requests_again(tmp_path):
    import http.client
    import urllib.error
    import urllib.request

    with local_server(tmp_path / "server.log", env={"RNNZOO_MAX_IN_PROGRESS": "2"}) as url:
        host, port = url.removeprefix("http://").split(":")
        streams = []
        for seed in range(2):  # two streams the client does not read: both stay in progress
            connection = http.client.HTTPConnection(host, int(port), timeout=30)
            connection.request("POST", "/generate_stream", headers={"content-type": "application/json"},
                               body=json.dumps({"prompt": "A", "max_new_tokens": 2000, "seed": seed}))
            assert connection.getresponse().status == 200
            streams.append(connection)
        request = urllib.request.Request(f"{url}/sentiment", data=json.dumps({"texts": ["fine"]}).encode(),
                                         headers={"content-type": "application/json"})
        started = time.monotonic()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert time.monotonic() - started < 2.0  # at once, not after a queue
        assert refused.value.code == 503 and refused.value.headers["Retry-After"] == "1"
        message = json.loads(refused.value.read())["error"]
        assert "holds 2 requests" in message and "RNNZOO_MAX_IN_PROGRESS" in message, message
        assert get(f"{url}/readyz")[0] == 200  # probes are answered at the limit
        for connection in streams:
            connection.close()
        deadline, status = time.monotonic() + 15, None
        while status != 200 and time.monotonic() < deadline:  # the streams end when the server sees them gone
            status = post(f"{url}/sentiment", {"texts": ["fine"]})[0]
            time.sleep(0.1)
        assert status == 200
