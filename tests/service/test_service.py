"""The service classes called directly (the `zoo_service` fixture): no HTTP, no batching, the same code paths."""
import asyncio

import pytest
from bentoml.exceptions import InvalidArgument, NotFound

from service.service import catalogue
from zoo import list_models


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


def test_a_model_may_be_named_with_its_version(zoo_service):
    predictor = zoo_service.model("sentiment", "sst2-gru@1.0.0")
    assert predictor.name == "sst2-gru" and predictor.card.version == "1.0.0"
    with pytest.raises(NotFound, match="served at version '1.0.0', not '2.0.0'; ask for sst2-gru@1.0.0"):
        zoo_service.model("sentiment", "sst2-gru@2.0.0")
    with pytest.raises(NotFound, match="unknown model 'sst2-bert'"):
        zoo_service.model("sentiment", "sst2-bert@1.0.0")
