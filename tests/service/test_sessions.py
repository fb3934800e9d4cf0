"""Sessions without a server (service/sessions.py): text fed in pieces equals the whole text, ragged batching
equals separate calls, steps arriving together share calls, and the store's TTL, limit and errors. (A vitals
stay fed hour by hour is tested with its features, in tests/zoo/tasks/test_vitals.py.)"""
import asyncio
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.sessions import MemorySessionStore, SessionLimit, StepBatcher, UnknownSession, run_ragged
from service.tasks.generation import top_characters
from zoo.artifacts import ARTIFACTS_DIR
from zoo.tasks.generation.predictor import GenerationPredictor


@pytest.fixture(scope="module")
def generator():
    return GenerationPredictor(ARTIFACTS_DIR / "shakespeare-gru", ["CPUExecutionProvider"])


def test_text_fed_in_pieces_equals_the_whole_text(generator):
    text = "ROMEO:\nWhat light through yonder window breaks? It is the east, and Juliet is the sun.\n" * 4
    ids = generator.vocabulary.encode(text)
    (whole,), _ = generator.step(ids[None], generator.initial_state(1))
    state, rng, start, last = generator.initial_state(1), np.random.default_rng(1), 0, None
    while start < len(ids):
        stop = min(len(ids), start + int(rng.integers(1, 40)))
        (logits,), state = run_ragged(generator.step,
                                      [(ids[start:stop], state)])[0]
        last, start = logits[-1], stop
    np.testing.assert_allclose(last, whole[0, -1], atol=1e-5)
    assert top_characters(last, generator.vocabulary.characters)[0][0] == \
           generator.vocabulary.characters[int(whole[0, -1].argmax())]


def test_ragged_batching_equals_one_call_per_sequence(generator):
    def run(tokens, state):
        (logits,), new_state = generator.step(tokens, state)
        return [logits], new_state

    rng = np.random.default_rng(2)
    items = []
    for length in (1, 7, 7, 30, 3):
        state = [rng.normal(size=s.shape).astype(np.float32) for s in generator.initial_state(1)]
        items.append((rng.integers(0, 65, size=length).astype(np.int64), state))
    calls = []
    merged = run_ragged(lambda t, s: calls.append(t.shape) or run(t, s), items)
    assert len(calls) == 4  # one call per distinct length: 1, 3, 7, 30
    for (tokens, state), ((logits,), new_state) in zip(items, merged):
        (alone,), alone_state = run(tokens[None], state)
        np.testing.assert_allclose(logits, alone[0], atol=1e-5)
        for a, b in zip(new_state, alone_state):
            np.testing.assert_allclose(a, b, atol=1e-5)


def test_steps_arriving_together_share_calls(generator):
    def run(tokens, state):
        (logits,), new_state = generator.step(tokens, state)
        return [logits], new_state

    async def main():
        batcher = StepBatcher(run, ThreadPoolExecutor(1))
        steps = [batcher.submit(np.array([i % 65, 3], dtype=np.int64), generator.initial_state(1)) for i in range(40)]
        return batcher, await asyncio.gather(*steps)

    batcher, results = asyncio.run(main())
    assert len(results) == 40 and sum(batcher.batch_sizes) == 40
    assert max(batcher.batch_sizes) > 1  # the first step runs alone; the others waited and went together


def test_the_store_evicts_idle_sessions_and_enforces_its_limit():
    now = [0.0]
    store = MemorySessionStore(max_sessions=2, ttl_s=10, clock=lambda: now[0])

    async def main():
        first = await store.start("m", "vitals", [])
        await store.start("m", "vitals", [])
        with pytest.raises(SessionLimit, match="2 sessions are live, the maximum"):
            await store.start("m", "vitals", [])
        now[0] = 8.0
        assert await store.load(first.id) is first  # a step resets the idle clock
        now[0] = 15.0  # the second has been idle 15 s, the first 7 s
        third = await store.start("m", "vitals", [])
        assert set(store.sessions) == {first.id, third.id}
        now[0] = 30.0
        with pytest.raises(UnknownSession, match="unknown or expired session"):
            async with store.locked(first.id):  # as a step holds it: expired all the same
                await store.load(first.id)
        await store.start("m", "vitals", [])
        with pytest.raises(UnknownSession):
            await store.end("never-started")

    asyncio.run(main())
