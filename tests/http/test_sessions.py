"""/sessions/* on a real `bentoml serve` with the shipped models, a short TTL and a small session limit:
a history fed in steps gives what the one-shot endpoints give for the whole of it, steps of one session
apply in order, steps of several share calls, and the session limit and idle expiry hold. (Bad starts and
steps get their 4xx in process, in tests/service/test_api.py.)"""
import asyncio
import time

import aiohttp
import numpy as np
import pytest

from service.local_server import local_server
from tests.helpers import get, observations, post

pytestmark = pytest.mark.http
TTL_S = 4
MAX_SESSIONS = 24


@pytest.fixture(scope="module")
def session_server(tmp_path_factory):
    log_path = tmp_path_factory.mktemp("sessions") / "bentoml.log"
    with local_server(log_path, env={"RNNZOO_SESSION_TTL_S": str(TTL_S), "RNNZOO_MAX_SESSIONS": str(MAX_SESSIONS)}) as url:
        yield url


@pytest.fixture(scope="module")
def set_b_texts(data_dir):
    from training.vitals.data import load_physionet

    return [stay.record_text for stay in load_physionet("set-b", data_dir)[:12]]


def start(url: str, model: str) -> str:
    status, body = post(f"{url}/sessions/start", {"model": model})
    assert status == 200, body
    assert body["model"] == model and body["expires_in_s"] == TTL_S
    return body["session_id"]


def step(url: str, session_id: str, **fields) -> tuple[int, dict]:
    return post(f"{url}/sessions/step", {"session_id": session_id, **fields})


@pytest.mark.parametrize("model", ["vitals-gru", "vitals-lstm"])
def test_a_stay_sent_in_steps_gets_what_vitals_gives_for_the_whole_stay(session_server, set_b_texts, model):
    rng = np.random.default_rng(3)
    for text in set_b_texts[:4]:
        rows = observations(text)
        session_id = start(session_server, model)
        answers, sent = [], 0
        while sent < len(rows):
            size = int(rng.integers(1, 80))
            status, body = step(session_server, session_id, observations=rows[sent:sent + size])
            assert status == 200, body
            answers.append(body["vitals"])
            sent += size
        status, whole = post(f"{session_server}/vitals", {"record": text, "model": model})
        assert status == 200, whole
        last = answers[-1]
        assert last["hours_observed"] == whole["hours_observed"]
        np.testing.assert_allclose(last["risk_by_hour"], whole["risk_by_hour"], atol=1e-5)
        for vital, value in whole["next_hour"].items():
            assert abs(last["next_hour"][vital] - value) <= 2e-3
        assert last["clipped"] == whole["clipped"]
        assert post(f"{session_server}/sessions/end", {"session_id": session_id})[0] == 200


def test_descriptors_alone_are_kept_and_answered_with_null(session_server):
    session_id = start(session_server, "vitals-gru")
    status, body = step(session_server, session_id, observations=[{"time": "00:00", "parameter": "Age", "value": 80}])
    assert status == 200 and body["vitals"] is None
    status, body = step(session_server, session_id, observations=[{"time": "00:20", "parameter": "HR", "value": 120}])
    _, whole = post(f"{session_server}/vitals", {"observations": [{"time": "00:00", "parameter": "Age", "value": 80},
                                                                  {"time": "00:20", "parameter": "HR", "value": 120}]})
    np.testing.assert_allclose(body["vitals"]["risk_by_hour"], whole["risk_by_hour"], atol=1e-5)


def test_text_sent_in_pieces_continues_as_generate_does_and_the_continuation_is_not_kept(session_server):
    text = "ROMEO:\nBut soft, what light through yonder window breaks?\nJULIET:\n"
    session_id = start(session_server, "shakespeare-gru")
    for piece in (text[:5], text[5:6], text[6:40], text[40:]):
        status, body = step(session_server, session_id, text=piece)
        assert status == 200, body
    assert body["generation"]["characters_seen"] == len(text) and body["generation"]["continuation"] is None
    candidates = body["generation"]["next_characters"]
    assert len(candidates) == 5 and candidates[0]["probability"] >= candidates[-1]["probability"]
    sampling = {"max_new_tokens": 80, "temperature": 0.8, "top_k": 40, "seed": 11}
    status, continued = step(session_server, session_id, text="", **sampling)
    _, generated = post(f"{session_server}/generate", {"prompt": text, "model": "shakespeare-gru", **sampling})
    assert continued["generation"]["continuation"] == generated["text"]
    assert continued["generation"]["finish_reason"] == "length"
    _, again = step(session_server, session_id, text="", **sampling)  # the first continuation left no trace
    assert again["generation"]["continuation"] == generated["text"]
    assert again["generation"]["characters_seen"] == len(text)


def test_concurrent_steps_of_one_session_apply_one_at_a_time(session_server):
    session_id = start(session_server, "shakespeare-rnn")

    async def send_all():
        async with aiohttp.ClientSession() as client:
            async def one(i):
                async with client.post(f"{session_server}/sessions/step",
                                       json={"session_id": session_id, "text": "ab"[i % 2]}) as response:
                    return response.status, await response.json()
            return await asyncio.gather(*(one(i) for i in range(24)))

    answers = asyncio.run(send_all())
    assert all(status == 200 for status, _ in answers)
    # each step saw the ones before it and no other: the counts are 1..24, each once
    assert sorted(body["generation"]["characters_seen"] for _, body in answers) == list(range(1, 25))


def session_batches(metrics: str) -> tuple[float, float]:
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith("rnnzoo_session_step_batch_size_sum"):
            total += float(line.rsplit(" ", 1)[1])
        if line.startswith("rnnzoo_session_step_batch_size_count"):
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def test_steps_of_different_sessions_share_calls(session_server):
    ids = [start(session_server, "vitals-rnn") for _ in range(16)]
    before = session_batches(get(f"{session_server}/metrics")[1])

    async def send_all():
        async with aiohttp.ClientSession() as client:
            async def one(session_id, minute):
                body = {"session_id": session_id,
                        "observations": [{"time": f"{minute // 60:02d}:{minute % 60:02d}", "parameter": "HR", "value": 90}]}
                async with client.post(f"{session_server}/sessions/step", json=body) as response:
                    return response.status
            statuses = []
            for minute in (5, 65, 125, 185):  # every round closes an hour in each session
                statuses += await asyncio.gather(*(one(i, minute) for i in ids))
            return statuses

    assert set(asyncio.run(send_all())) == {200}
    total, count = (a - b for a, b in zip(session_batches(get(f"{session_server}/metrics")[1]), before))
    assert total >= 16 * 4  # every step went through the batcher (closed hours and the open one)
    assert total / count > 1.5, f"steps were not merged: {total} steps in {count} batches"
    for session_id in ids:
        post(f"{session_server}/sessions/end", {"session_id": session_id})


def test_the_session_limit_gives_429_and_idle_sessions_expire(session_server):
    time.sleep(TTL_S + 0.5)  # the other tests' sessions have expired
    ids = [start(session_server, "vitals-rnn") for _ in range(MAX_SESSIONS)]
    status, answer = post(f"{session_server}/sessions/start", {"model": "vitals-rnn"})
    assert status == 429 and f"RNNZOO_MAX_SESSIONS={MAX_SESSIONS}" in str(answer), answer
    time.sleep(TTL_S + 0.5)
    status, answer = step(session_server, ids[0], observations=[{"time": "00:10", "parameter": "HR", "value": 70}])
    assert status == 404 and "unknown or expired session" in str(answer)
    start(session_server, "vitals-rnn")  # the expired ones freed their places
