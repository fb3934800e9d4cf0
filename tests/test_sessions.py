"""Sessions without a server: hour-by-hour features and state equal the one-shot run on real set-b stays,
text fed in pieces equals the whole text, ragged batching equals separate calls, and the store's TTL,
limit and errors."""
import asyncio
import csv
import io
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from service.sessions import SessionLimit, SessionStore, StepBatcher, UnknownSession, run_ragged
from service.tasks.generation import top_characters
from training.vitals.data import load_physionet
from zoo.artifacts import ARTIFACTS_DIR
from zoo.tasks.generation.predictor import GenerationPredictor
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import features, parse_record_text, HOURS, StayFeatures, VitalsInputError


@pytest.fixture(scope="module")
def monitor():
    return VitalsPredictor(ARTIFACTS_DIR / "vitals-gru", ["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def generator():
    return GenerationPredictor(ARTIFACTS_DIR / "shakespeare-gru", ["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def set_b(data_dir):
    return [s.record_text for s in load_physionet("set-b", data_dir)[:25]]


def rows_of(record_text: str) -> list[tuple[str, str, float]]:
    return [(t, p, float(v)) for t, p, v in list(csv.reader(io.StringIO(record_text.strip())))[1:]]


def vitals_in_steps(monitor: VitalsPredictor, rows: list, sizes) -> tuple[StayFeatures, list[float], np.ndarray]:
    """Feed rows in steps of the given sizes as the service does: closed hours into the state, then the
    open hour from it. Returns the stay, the risk after each hour, and the last change."""
    stay, state, risks = StayFeatures(monitor.statistics), monitor.initial_state(1), []
    start = 0
    for size in sizes:
        closed = stay.add(rows[start:start + size])
        start += size
        if len(closed):
            (risk, _), state = monitor.step(closed[None], state)
            risks.extend(risk[0].tolist())
    open_row, carried = stay.open_hour()
    (risk, change), _ = monitor.step(open_row[None], state)
    return stay, risks + [float(risk[0, 0])], monitor.expected_vitals(carried, change[0, 0])


def test_a_stay_fed_in_random_steps_gives_the_one_shot_answer(monitor, set_b):
    rng = np.random.default_rng(0)
    checked = 0
    for text in set_b:
        record = parse_record_text(text)
        if not record.rows:
            continue
        rows = rows_of(text)
        sizes = []
        while sum(sizes) < len(rows):
            sizes.append(int(rng.integers(1, 60)))
        stay, risks, next_hour = vitals_in_steps(monitor, rows, sizes)
        hours = record.hours_observed
        whole_features = features(record, monitor.statistics, hours)
        risk, change = monitor.assess(whole_features[None])
        assert stay.hours_observed == hours
        np.testing.assert_allclose(risks, risk[0], atol=1e-5)
        np.testing.assert_allclose(next_hour, monitor.next_hour(record, change[0, -1]), atol=1e-4)
        assert [(c.time, c.parameter, c.value) for c in stay.clipped] == \
               [(c.time, c.parameter, c.value) for c in record.clipped]
        checked += 1
    assert checked >= 20


def test_hour_by_hour_features_equal_the_whole_records(monitor, set_b):
    for text in set_b[:10]:
        record = parse_record_text(text)
        rows = rows_of(text)
        stay, got = StayFeatures(monitor.statistics), []
        for row in rows:  # one observation per step: the most steps a stay can take
            got.extend(stay.add([row]))
        got.append(stay.open_hour()[0][0])
        np.testing.assert_array_equal(np.array(got), features(record, monitor.statistics, record.hours_observed))


def test_a_session_refuses_closed_hours_and_late_descriptors_and_changes_nothing(monitor):
    stay = StayFeatures(monitor.statistics)
    stay.add([("00:00", "Age", 70), ("00:10", "HR", 80), ("02:05", "HR", 90)])
    before = (stay.closed, stay.rows, stay.sums.copy(), stay.descriptors.copy())
    with pytest.raises(VitalsInputError, match="hour 1, which this session has closed.*from 02:00 on"):
        stay.add([("02:30", "HR", 85), ("01:59", "HR", 85)])
    with pytest.raises(VitalsInputError, match="descriptor Age arrives after hour 1 has closed"):
        stay.add([("02:30", "Age", 71)])
    with pytest.raises(VitalsInputError, match="unknown parameter 'Pulse'"):
        stay.add([("02:30", "Pulse", 71)])
    with pytest.raises(VitalsInputError, match="past 48:00"):
        stay.add([("48:01", "HR", 71)])
    assert (stay.closed, stay.rows, stay.descriptors) == (before[0], before[1], before[3])
    np.testing.assert_array_equal(stay.sums, before[2])
    stay.add([("48:00", "HR", 71)])  # 48:00 is in the last hour, as in the one-shot features
    assert stay.hours_observed == HOURS


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
    store = SessionStore(max_sessions=2, ttl_s=10, clock=lambda: now[0])
    first = store.start("m", "vitals", [])
    store.start("m", "vitals", [])
    with pytest.raises(SessionLimit, match="2 sessions are live, the maximum"):
        store.start("m", "vitals", [])
    now[0] = 8.0
    assert store.get(first.id) is first  # a step resets the idle clock
    now[0] = 15.0  # the second has been idle 15 s, the first 7 s
    third = store.start("m", "vitals", [])
    assert set(store.sessions) == {first.id, third.id}
    now[0] = 30.0
    with pytest.raises(UnknownSession, match="unknown or expired session"):
        store.get(first.id)
    store.start("m", "vitals", [])
    with pytest.raises(UnknownSession):
        store.end("never-started")
