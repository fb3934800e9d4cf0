"""The service classes called directly: no HTTP, no batching, the same code paths."""
import asyncio

import pytest
from bentoml.exceptions import InvalidArgument, NotFound

from service.service import RNNZoo, catalogue
from service.settings import BATCHING_ENV, MAX_SESSIONS_ENV, SESSION_TTL_ENV, STRICT_ENV, Settings, threads_env
from zoo import list_models


@pytest.fixture(scope="module")
def zoo_service() -> RNNZoo:
    return RNNZoo()


def run(coroutine):
    return asyncio.run(coroutine)


def test_default_sentiment_model_is_the_best_by_card(zoo_service):
    predictors = zoo_service.zoo.of_task("sentiment")
    best = max(predictors, key=lambda name: predictors[name].card.metric("accuracy").value)
    answer = run(zoo_service.sentiment(texts=["a gorgeous, witty, seductive movie."]))
    assert answer.model == best == zoo_service.defaults["sentiment"]


def test_predictions_keep_input_order(zoo_service):
    texts = ["a gorgeous, witty, seductive movie.", "the plot is dull and the acting is worse", "a masterpiece"]
    answer = run(zoo_service.sentiment(texts=texts))
    assert [p.label for p in answer.predictions] == ["positive", "negative", "positive"]
    assert all((p.positive > 0.5) == (p.label == "positive") for p in answer.predictions)


def test_every_shipped_sentiment_model_is_loaded_and_catalogued(zoo_service):
    assert sorted(zoo_service.zoo.of_task("sentiment")) == list_models("sentiment")
    assert {card["name"] for card in catalogue["models"]} == set(list_models())
    assert catalogue["broken"] == {}


def test_unknown_model_lists_the_valid_ones(zoo_service):
    with pytest.raises(NotFound, match="unknown model 'sst2-bert'.*sst2-gru, sst2-lstm, sst2-lstm-int8, sst2-rnn"):
        run(zoo_service.sentiment(texts=["fine"], model="sst2-bert"))


def test_texts_without_words_are_invalid(zoo_service):
    with pytest.raises(InvalidArgument, match=r"texts\[1\] has no words"):
        run(zoo_service.sentiment(texts=["fine", " \t "]))


def test_a_model_of_another_task_is_refused(zoo_service, monkeypatch):
    other = zoo_service.zoo.predictors["sst2-rnn"]
    monkeypatch.setattr(other.card, "task", "generation")  # stands in for a text-generation model
    with pytest.raises(InvalidArgument, match="'sst2-rnn' is a generation model; sentiment models: sst2-gru, sst2-lstm"):
        run(zoo_service.sentiment(texts=["fine"], model="sst2-rnn"))


def test_generation_threads_setting_is_validated():
    variable = threads_env("generation")
    assert variable == "RNNZOO_GENERATION_THREADS"  # the documented name
    assert Settings.from_environment(("generation",), {}).task_threads == {}  # unset: 1 thread
    assert Settings.from_environment(("generation",), {variable: "1"}).task_threads == {"generation": 1}
    for bad in ("0", "two", "-1", "100000"):
        with pytest.raises(ValueError, match=f"{variable}='{bad}': expected a whole number from 1 to"):
            Settings.from_environment(("generation",), {variable: bad})


def test_session_limits_are_validated():
    def limits(environ):
        settings = Settings.from_environment((), environ)
        return settings.max_sessions, settings.session_ttl_s

    assert limits({}) == (1000, 900.0)
    assert limits({MAX_SESSIONS_ENV: "5", SESSION_TTL_ENV: "2.5"}) == (5, 2.5)
    for variable, value in ((MAX_SESSIONS_ENV, "0"), (MAX_SESSIONS_ENV, "many"), (SESSION_TTL_ENV, "0"),
                            (SESSION_TTL_ENV, "nan"), (SESSION_TTL_ENV, "soon")):
        with pytest.raises(ValueError, match=variable):
            limits({MAX_SESSIONS_ENV: "5", SESSION_TTL_ENV: "2.5", variable: value})


def test_strict_and_batching_switches_are_validated():
    assert Settings.from_environment((), {STRICT_ENV: "1", BATCHING_ENV: "off"}) == Settings(strict=True, batching=False)
    for variable, value, allowed in ((STRICT_ENV, "yes", "0 or 1"), (BATCHING_ENV, "true", "on or off")):
        with pytest.raises(ValueError, match=f"{variable}='{value}': expected {allowed}"):
            Settings.from_environment((), {variable: value})


def test_a_model_may_be_named_with_its_version(zoo_service):
    predictor = zoo_service.model("sentiment", "sst2-gru@1.0.0")
    assert predictor.name == "sst2-gru" and predictor.card.version == "1.0.0"
    with pytest.raises(NotFound, match="served at version '1.0.0', not '2.0.0'; ask for sst2-gru@1.0.0"):
        zoo_service.model("sentiment", "sst2-gru@2.0.0")
    with pytest.raises(NotFound, match="unknown model 'sst2-bert'"):
        zoo_service.model("sentiment", "sst2-bert@1.0.0")
