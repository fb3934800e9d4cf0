"""Session stores (issue 22): the codec rebuilds every task's session exactly and refuses what it was not told
of; the Redis store against a real redis-server (version checks, the global limit, expiry, an unreachable store);
and the service in process on Redis, two instances sharing one store as two replicas would: a session stepped on
both answers exactly as one in memory does, a retried step id is applied once, and racing steps are all applied."""
import asyncio
import base64
import threading
import wave
from dataclasses import dataclass

import numpy as np
import pytest

from service.local_server import free_port
from service.redis_sessions import RedisSessionStore, redacted
from service.session_codec import CodecError, SessionCodec
from service.sessions import Session, SessionLimit, StepConflict, StoreUnavailable, UnknownSession
from service.tasks import SESSIONS
from tests.conftest import in_process
from tests.helpers import observations


@pytest.fixture(scope="module")
def replicas(redis_server):
    """Two instances of the service on one Redis, as two replicas (or a worker and its replacement)."""
    env = {"RNNZOO_SESSION_STORE": redis_server.url}
    with in_process(env) as first, in_process(env) as second:
        yield first, second


def steps_of(task: str, data_dir, set_a) -> tuple[str, list[dict]]:
    """A model of `task` and three steps' fields that exercise what its session keeps."""
    if task == "vitals":
        rows = observations(set_a[0][0].record_text)
        return "vitals-gru", [{"observations": rows[:30]}, {"observations": rows[30:90]}, {"observations": rows[90:]}]
    if task == "generation":
        return "shakespeare-lstm", [{"text": "ROMEO:"}, {"text": " Is it", "max_new_tokens": 8, "seed": 7},
                                    {"text": "", "max_new_tokens": 4, "seed": 1}]
    if task == "music":
        return "jsb-gru", [{"frames": [[60, 64, 67], [62, 65, 69]]}, {"frames": [[60]], "steps": 3, "seed": 5},
                           {"frames": []}]
    with wave.open(str(data_dir / "fsdd" / "recordings" / "4_george_0.wav")) as recording:
        pcm = recording.readframes(recording.getnframes())  # 16-bit mono at 8 kHz
    cut = [0, len(pcm) // 3 & ~1, 2 * len(pcm) // 3 & ~1, len(pcm)]
    return "digits-gru", [{"audio": base64.b64encode(pcm[a:b]).decode()} for a, b in zip(cut, cut[1:])]


def run_steps(clients, model: str, steps: list[dict]) -> list[dict]:
    """Start on the first client, then step on each client in turn; the answers without the session id."""
    status, started = clients[0].post("/sessions/start", {"model": model})
    assert status == 200, started
    answers = []
    for i, fields in enumerate(steps):
        status, answer = clients[i % len(clients)].post("/sessions/step", {"session_id": started["session_id"],
                                                                           **fields})
        assert status == 200, answer
        answers.append({k: v for k, v in answer.items() if k != "session_id"})
    return answers


@pytest.mark.parametrize("task", list(SESSIONS))
def test_a_session_stepped_on_two_replicas_answers_as_one_process_in_memory(task, api, replicas, redis_server,
                                                                           data_dir, set_a):
    import redis

    model, steps = steps_of(task, data_dir, set_a)
    live = redis.Redis.from_url(redis_server.url).zcard("rnnzoo:live")
    assert run_steps(replicas, model, steps) == run_steps([api], model, steps)
    assert redis.Redis.from_url(redis_server.url).zcard("rnnzoo:live") == live + 1  # kept in Redis


def test_a_retried_step_id_is_applied_once_and_answered_the_same(api, replicas):
    for clients in ([api], replicas):
        session_id = clients[0].post("/sessions/start", {"model": "shakespeare-gru"})[1]["session_id"]
        body = {"session_id": session_id, "text": "To be", "step_id": "client-1:0001", "max_new_tokens": 6}
        first = clients[0].post("/sessions/step", body)[1]
        again = clients[-1].post("/sessions/step", body)[1]  # a retry, on the other replica
        assert again == first and first["generation"]["characters_seen"] == 5
        after = clients[-1].post("/sessions/step", {"session_id": session_id, "text": "!"})[1]
        assert after["generation"]["characters_seen"] == 6  # "To be" went in once
        status, answer = clients[0].post("/sessions/step", {**body, "step_id": "no spaces"})
        assert status == 400 and "step_id" in str(answer)


def test_racing_steps_on_two_replicas_are_each_applied_once(api, replicas):
    session_id = replicas[0].post("/sessions/start", {"model": "shakespeare-gru"})[1]["session_id"]
    statuses = []

    def send(client, count):
        for _ in range(count):
            statuses.append(client.post("/sessions/step", {"session_id": session_id, "text": "a"})[0])

    threads = [threading.Thread(target=send, args=(client, 6)) for client in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 12
    final = replicas[0].post("/sessions/step", {"session_id": session_id, "text": ""})[1]["generation"]
    alone = run_steps([api], "shakespeare-gru", [{"text": "a"}] * 12 + [{"text": ""}])[-1]["generation"]
    assert final["characters_seen"] == 12 and final["next_characters"] == alone["next_characters"]


def test_a_bidirectional_speech_model_has_no_sessions_and_is_not_listed_for_them(api, tmp_path, data_dir):
    from bentoml.exceptions import InvalidArgument

    from training.speech import train
    from zoo.tasks.speech.predictor import SpeechPredictor

    train.main(["--model", "test-digits-bigru", "--epochs", "1", "--utterances", "8", "--synthetic-voices", "0",
                "--monitor-voices", "0", "--data-dir", str(data_dir), "--checkpoint-dir", str(tmp_path),
                "--artifacts-dir", str(tmp_path)])
    bidirectional = SpeechPredictor(tmp_path / "test-digits-bigru", ["CPUExecutionProvider"])
    speech = SESSIONS["speech"]
    assert not speech.accepts(bidirectional)
    with pytest.raises(InvalidArgument, match="bidirectional: it hears each step's future too.*/transcribe"):
        speech.open(bidirectional)
    status, answer = api.post("/sessions/start", {"model": "sst2-gru"})
    assert status == 400 and "digits-gru" in str(answer)  # the listing names the streaming models


# --- the codec -------------------------------------------------------------------------------------------------
@dataclass(eq=False, kw_only=True)
class Kept(Session):
    stored_types = ()
    extra: object = None


class Undeclared:
    def __init__(self):
        self.x = 1


def test_the_codec_keeps_dtypes_shapes_and_numbers_and_refuses_what_no_session_declares():
    codec = SessionCodec([Kept])
    state = [np.arange(6, dtype=np.float32).reshape(2, 1, 3), np.zeros((0, 11), np.float32)]
    extra = {"a": (1, 2.5, float("nan")), 3: [np.float32(0.5), np.int64(7), None, True, "ü"]}
    back = codec.decode(codec.encode(Kept(id="x", model="m", task="t", state=state, last_used=1.0, extra=extra,
                                          answers={"s1": "{}"})))
    assert type(back) is Kept and back.answers == {"s1": "{}"} and back.id == "x"
    assert all(a.dtype == b.dtype and a.shape == b.shape and (a == b).all() for a, b in zip(back.state, state))
    assert back.extra["a"][:2] == (1, 2.5) and np.isnan(back.extra["a"][2])
    assert back.extra[3][:2] == [np.float32(0.5), np.int64(7)] and type(back.extra[3][0]) is np.float32
    back.state[0][0, 0, 0] = 9.0  # arrays come back writable
    shared = Kept(id="x", model="m", task="t", state=state, last_used=0.0, extra=[state[0], np.zeros(0, np.int8)])
    again = codec.decode(codec.encode(shared))
    assert again.extra[0] is again.state[0] and again.extra[1].dtype == np.int8  # held twice, stored once
    def array_bytes(data: bytes) -> int:  # after the magic, the header's length and the header
        return len(data) - 9 - int.from_bytes(data[5:9], "big")

    assert array_bytes(codec.encode(shared)) == state[0].nbytes
    with pytest.raises(CodecError, match="not declared in stored_types"):
        codec.encode(Kept(id="x", model="m", task="t", state=[], last_used=0.0, extra=Undeclared()))
    data = codec.encode(Kept(id="x", model="m", task="t", state=state, last_used=0.0))
    for bad, message in ((b"pickle", "no RNZS1 header"), (data[:-4], "outside the session's bytes"),
                         (data.replace(b"Kept", b"Evil"), "which no session kind declares")):
        with pytest.raises(CodecError, match=message):
            codec.decode(bad)


# --- the Redis store itself -------------------------------------------------------------------------------------
def test_the_redis_store_checks_versions_enforces_its_global_limit_and_expires_idle_sessions(redis_server):
    async def main():
        prefix = f"limit{free_port()}"  # keys of this test's own
        stores = [RedisSessionStore(redis_server.url, [Kept], max_sessions=2, ttl_s=0.5, prefix=prefix)
                  for _ in range(2)]  # two replicas, one store
        first = await stores[0].start("m", "t", [np.ones((1, 1, 4), np.float32)], Kept)
        await stores[1].start("m", "t", [], Kept)
        with pytest.raises(SessionLimit, match="2 sessions are live in the shared store"):
            await stores[0].start("m", "t", [], Kept)  # the limit counts the other replica's session too
        mine, theirs = await stores[0].load(first.id), await stores[1].load(first.id)
        theirs.state[0][:] = 2.0
        await stores[1].commit(theirs)
        mine.state[0][:] = 3.0
        with pytest.raises(StepConflict):
            await stores[0].commit(mine)  # read before the other replica's commit: never written over it
        reread = await stores[0].load(first.id)
        assert reread.version == 1 and (reread.state[0] == 2.0).all()
        await asyncio.sleep(0.7)  # both idle past the TTL
        with pytest.raises(UnknownSession, match="unknown or expired session"):
            await stores[0].load(first.id)
        await stores[0].start("m", "t", [], Kept)  # expired ones no longer count
        await stores[0].end((await stores[1].start("m", "t", [], Kept)).id)
        assert await stores[0].live() == 1
        for store in stores:
            await store.close()

    asyncio.run(main())


def test_an_unreachable_redis_is_an_error_that_says_so_never_a_new_session():
    async def main():
        store = RedisSessionStore(f"redis://:secret@127.0.0.1:{free_port()}/0", [Kept])
        for call in (store.start("m", "t", [], Kept), store.load("some-id"), store.end("some-id")):
            with pytest.raises(StoreUnavailable, match=r"redis://:\*\*\*@127.0.0.1:\d+/0 cannot be reached") as error:
                await call
            assert "secret" not in str(error.value)
        await store.close()

    asyncio.run(main())
    assert redacted("redis://user:pw@host:1/0") == "redis://user:***@host:1/0"
