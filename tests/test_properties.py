"""Property-based tests (hypothesis) for every parser that takes user text or numbers: each input is either
read or refused with the module's own error naming what is wrong; nothing else escapes."""
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from zoo.tasks.forecasting.features import check_closes, ForecastInputError
from zoo.artifacts import ARTIFACTS_DIR
from zoo.tasks.generation.predictor import GenerationPredictor
from zoo.tasks.sentiment.predictor import SentimentPredictor
from zoo.task import TextError
from zoo.tasks.generation.vocabulary import CharVocabulary
from zoo.tasks.sentiment.tokenizer import normalise
from zoo.tasks.vitals.records import parse_observations, parse_record_text, LIMITS, PARAMETERS, VitalsInputError

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
times = st.one_of(st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 48), st.integers(0, 59)),
                  st.text(max_size=8))
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.text(max_size=6))
parameters = st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=10))


@SETTINGS
@given(st.lists(st.tuples(times, parameters, values), max_size=30))
def test_observations_are_read_or_refused_with_the_reason(rows):
    try:
        record = parse_observations(rows)
    except VitalsInputError as error:
        assert str(error)  # says what is wrong
        return
    for minute, parameter, value in record.rows:  # what was read is in range: clipped, never out of limits
        low, high = LIMITS[parameter]
        assert 0 <= minute <= 48 * 60 and low <= value <= high and math.isfinite(value)
    assert 1 <= record.hours_observed <= 48


@SETTINGS
@given(st.text(max_size=400))
def test_any_record_text_is_read_or_refused_with_the_reason(text):
    try:
        parse_record_text(text)
    except VitalsInputError as error:
        assert str(error)


@SETTINGS
@given(st.lists(st.tuples(st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 47), st.integers(0, 59)),
                          st.sampled_from(["HR", "NIMAP", "Temp", "Glucose", "SaO2"]),
                          st.floats(0, 300, allow_nan=False)), min_size=1, max_size=30))
def test_the_record_text_and_the_json_rows_are_read_alike(rows):
    text = "Time,Parameter,Value\n" + "\n".join(f"{t},{p},{v!r}" for t, p, v in rows)
    assert parse_record_text(text) == parse_observations(rows)


@SETTINGS
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**9)), max_size=200))
def test_closes_are_read_or_refused_with_the_reason(closes):
    try:
        checked = check_closes(closes, window=60, max_closes=150)
    except ForecastInputError as error:
        assert str(error)
        return
    assert 61 <= len(checked) <= 150 and np.all(np.isfinite(checked)) and np.all(checked > 0)


@pytest.fixture(scope="module")
def vocabulary() -> CharVocabulary:
    return GenerationPredictor(ARTIFACTS_DIR / "shakespeare-gru", with_session=False).vocabulary


@SETTINGS
@given(data=st.data())
def test_text_in_the_vocabulary_round_trips_and_other_characters_are_named(vocabulary, data):
    text = data.draw(st.text(alphabet=st.sampled_from(vocabulary.characters), max_size=50))
    assert vocabulary.decode(vocabulary.encode(text)) == text
    stranger = data.draw(st.characters().filter(lambda c: c not in vocabulary.index))
    with pytest.raises(TextError, match="not in this model's vocabulary"):
        vocabulary.encode(text + stranger)


@pytest.fixture(scope="module")
def tokenizer():
    return SentimentPredictor(ARTIFACTS_DIR / "sst2-lstm", with_session=False).tokenizer


@SETTINGS
@given(st.text(max_size=1100))
def test_any_text_is_tokenised_or_refused_with_the_reason(tokenizer, text):
    try:
        [ids] = tokenizer.encode([text])
    except TextError as error:
        assert "texts[0]" in str(error)
        assert len(text) > 1000 or not normalise(text)  or "no words" in str(error)
        return
    assert ids and all(0 <= i < tokenizer.vocab_size for i in ids)


@SETTINGS
@given(st.text(max_size=200))
def test_normalisation_is_idempotent(text):
    assert normalise(normalise(text)) == normalise(text)
