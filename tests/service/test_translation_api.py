"""/translate in process (issue 20): the shipped translator answers as its predictor does, in input order, with the
attention when asked; every bad request gets a 4xx saying what is allowed."""
import json

import numpy as np
import pytest

from zoo.artifacts import ARTIFACTS_DIR
from zoo.registry import list_models
from zoo.tasks.translation.predictor import TranslationPredictor

pytestmark = pytest.mark.skipif(not list_models("translation"), reason="no translation model is shipped yet")

TEXTS = ["Ein Mann fährt mit dem Fahrrad über eine Brücke.", "Zwei Hunde spielen im Schnee.",
         "Eine Frau mit einem roten Hut liest ein Buch."]


@pytest.fixture(scope="module")
def translator() -> TranslationPredictor:
    return TranslationPredictor(ARTIFACTS_DIR / list_models("translation")[0], ["CPUExecutionProvider"])


def test_translations_come_back_in_input_order_as_the_predictor_gives_them(api, translator):
    status, answer = api.post("/translate", {"texts": TEXTS, "beam_size": 4, "model": translator.name})
    assert status == 200, answer
    expected = translator.translate(TEXTS, beam_size=4)
    assert answer["model"] == translator.name
    assert [t["text"] for t in answer["translations"]] == [e.text for e in expected]
    assert all(t["attention"] == [] and t["unknown_characters"] == [] for t in answer["translations"])
    status, greedy = api.post("/translate", {"texts": TEXTS[:1], "beam_size": 1, "model": translator.name})
    assert status == 200 and greedy["translations"][0]["text"] == translator.translate(TEXTS[:1], 1)[0].text


def test_the_attention_is_a_row_per_english_piece_over_the_german_pieces(api, translator):
    status, answer = api.post("/translate", {"texts": ["Ein Hund läuft über die ☃ Wiese."], "attention": True,
                                             "model": translator.name})
    assert status == 200, answer
    (result,) = answer["translations"]
    weights = np.array(result["attention"])
    assert weights.shape == (len(result["target_pieces"]), len(result["source_pieces"]))
    assert np.allclose(weights.sum(axis=1), 1, atol=1e-3) and result["source_pieces"][-1] == "</s>"
    assert result["unknown_characters"] == ["☃"]


@pytest.mark.parametrize("body, status, message", [
    ({"texts": []}, 400, "at least 1 item"),
    ({"texts": ["Hallo"] * 65}, 400, "at most 64 items"),
    ({"texts": [""]}, 400, "texts[0] is empty"),
    ({"texts": ["ok", "x" * 1001]}, 400, "texts[1] has 1001 characters; the maximum is 1000"),
    ({"texts": ["Hallo"], "beam_size": 0}, 400, "greater than or equal to 1"),
    ({"texts": ["Hallo"], "beam_size": 11}, 400, "less than or equal to 10"),
    ({"texts": ["Hallo"], "max_length": 0}, 400, "greater than or equal to 1"),
    ({"texts": ["Hallo"], "model": "sst2-lstm"}, 400, "is a sentiment model; translation models"),
    ({"texts": ["Hallo"], "model": "deepl"}, 404, "unknown model 'deepl'; translation models"),
    ({"texts": "Hallo"}, 400, "texts: Input should be a valid array"),
])
def test_bad_requests_get_a_4xx_that_says_what_is_allowed(api, body, status, message):
    answer_status, answer = api.post("/translate", body)
    assert answer_status == status and message in json.dumps(answer), answer


def test_max_length_cuts_a_translation(api, translator):
    status, answer = api.post("/translate", {"texts": TEXTS[2:], "max_length": 3, "attention": True,
                                             "model": translator.name})
    assert status == 200 and len(answer["translations"][0]["target_pieces"]) <= 3
