"""Sessions in Redis on real `bentoml serve` processes (issue 22): two servers on one redis-server (the second with
two API workers) answer a session stepped alternately on both exactly as one server with sessions in memory does; a session survives its worker's
SIGKILL; a Redis crash loses no acknowledged step, and while Redis is down a step gets 503 with the reason, never
a 500 and never a fresh state."""
import time

import pytest

from service.local_server import LocalRedis, local_server
from tests.helpers import api_worker, api_workers, observations, post

pytestmark = [pytest.mark.http, pytest.mark.slow]

TEXT_STEPS = [{"text": "KING HENRY:"}, {"text": " My lord", "max_new_tokens": 12, "seed": 3}, {"text": ", and"},
              {"text": "", "max_new_tokens": 6, "seed": 9}]


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """This module's own Redis: its tests kill and restart it."""
    with LocalRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def replicas(redis, tmp_path_factory):
    folder = tmp_path_factory.mktemp("replicas")
    env = {"RNNZOO_SESSION_STORE": redis.url}
    with local_server(folder / "a.log", env=env) as first, \
            local_server(folder / "b.log", env={**env, "RNNZOO_WORKERS": "2"}) as second:  # and two workers
        yield first, second


def start(url: str, model: str) -> str:
    status, body = post(f"{url}/sessions/start", {"model": model})
    assert status == 200, body
    return body["session_id"]


def step(url: str, session_id: str, fields: dict) -> dict:
    status, body = post(f"{url}/sessions/step", {"session_id": session_id, **fields})
    assert status == 200, body
    return {k: v for k, v in body.items() if k != "session_id"}


def in_memory(server: str, model: str, steps: list[dict]) -> list[dict]:
    """What one server with sessions in its memory answers to `steps` of a new session."""
    session_id = start(server, model)
    return [step(server, session_id, fields) for fields in steps]


def test_a_session_stepped_alternately_on_two_servers_answers_as_one_server_in_memory(replicas, server, set_a):
    assert len(api_workers(replicas[1])) == 2  # its steps land on either worker
    vitals = observations(set_a[0][1].record_text)
    vitals_steps = [{"observations": vitals[:40]}, {"observations": vitals[40:100]}, {"observations": vitals[100:]}]
    for model, steps in (("shakespeare-gru", TEXT_STEPS), ("vitals-lstm", vitals_steps)):
        session_id = start(replicas[1], model)
        alternating = [step(replicas[i % 2], session_id, fields) for i, fields in enumerate(steps)]
        assert alternating == in_memory(server, model, steps)


def test_a_session_survives_a_killed_worker(replicas, server):
    expected = in_memory(server, "shakespeare-lstm", TEXT_STEPS)
    url = replicas[0]
    session_id = start(url, "shakespeare-lstm")
    answers = [step(url, session_id, fields) for fields in TEXT_STEPS[:2]]
    worker = api_worker(url)
    worker.kill()  # SIGKILL: nothing of the worker's memory survives
    worker.wait(10)
    deadline = time.monotonic() + 90
    while True:  # the arbiter starts a new worker; until it is up, connections are refused
        try:
            status, body = post(f"{url}/sessions/step", {"session_id": session_id, **TEXT_STEPS[2]})
            break
        except OSError:
            assert time.monotonic() < deadline, "no new worker within 90 s"
            time.sleep(0.2)
    assert status == 200, body
    assert api_worker(url).pid != worker.pid
    answers += [{k: v for k, v in body.items() if k != "session_id"}, step(url, session_id, TEXT_STEPS[3])]
    assert answers == expected


def test_a_redis_crash_loses_no_acknowledged_step_and_steps_meanwhile_get_503(replicas, server, redis):
    expected = in_memory(server, "shakespeare-gru", TEXT_STEPS)
    session_id = start(replicas[0], "shakespeare-gru")
    answers = [step(replicas[0], session_id, fields) for fields in TEXT_STEPS[:2]]
    redis.kill()  # SIGKILL: acknowledged steps are in its append-only file, fsynced on every write
    for url in replicas:
        status, body = post(f"{url}/sessions/step", {"session_id": session_id, **TEXT_STEPS[2]})
        assert status == 503 and "session store" in body["error"] and "cannot be reached" in body["error"], body
        status, body = post(f"{url}/sessions/start", {"model": "shakespeare-gru"})
        assert status == 503 and "cannot be reached" in body["error"], body
    assert post(f"{replicas[0]}/sentiment", {"texts": ["one-shot endpoints need no store"]})[0] == 200
    redis.start()
    answers += [step(replicas[1], session_id, TEXT_STEPS[2]), step(replicas[0], session_id, TEXT_STEPS[3])]
    assert answers == expected  # the refused step was not applied, and nothing before it was lost
