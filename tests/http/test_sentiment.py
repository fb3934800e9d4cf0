"""/sentiment on a real `bentoml serve`: answers in order that match the model run directly, the default
model, and concurrent requests merged into batches."""

import pytest

from tests.helpers import get, merged_rows, post, post_concurrently
from zoo import list_models
from zoo.artifacts import ARTIFACTS_DIR
from zoo.tasks.sentiment.predictor import SentimentPredictor

pytestmark = pytest.mark.http


def test_sentiment_answers_in_order_and_matches_the_model_run_directly(server):
    texts = ["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate clichés", "Not bad at all!"]
    for model in list_models("sentiment"):
        status, body = post(f"{server}/sentiment", {"texts": texts, "model": model})
        assert status == 200 and body["model"] == model
        expected = SentimentPredictor(ARTIFACTS_DIR / model).probabilities(texts)[:, 1]
        assert [p["positive"] for p in body["predictions"]] == pytest.approx(expected.tolist(), abs=1e-6)
        assert [p["label"] for p in body["predictions"]][:2] == ["positive", "negative"]


def test_model_is_optional(server):
    status, body = post(f"{server}/sentiment", {"texts": ["wonderful"]})
    assert status == 200 and body["model"] in list_models("sentiment")


def test_concurrent_requests_are_merged_into_batches(server):
    """32 clients at once: the batch-size histogram must average more than 4 texts per onnxruntime call."""
    before = merged_rows(get(f"{server}/metrics")[1], "sentiment")

    statuses = post_concurrently(f"{server}/sentiment", 32, 12,
                                 lambda index, step: {"texts": [f"review {index}.{step}: quite good"]})
    assert statuses == [200] * 32 * 12
    after = merged_rows(get(f"{server}/metrics")[1], "sentiment")
    texts, batches = after[0] - before[0], after[1] - before[1]
    assert texts == 32 * 12
    assert texts / batches > 4, f"mean batch {texts / batches:.2f} over {batches:.0f} batches"
