"""Sentiment preprocessing (zoo/tasks/sentiment/tokenizer.py): normalisation, WordPiece encoding, padding,
the texts it refuses, and property-based tests (hypothesis) of the tokeniser on any text."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import PROPERTY_SETTINGS, REPO
from zoo.artifacts import ARTIFACTS_DIR
from zoo.task import TextError
from zoo.tasks.sentiment.predictor import SentimentPredictor
from zoo.tasks.sentiment.tokenizer import WordPieceTokenizer, normalise

TOKENIZER = REPO / "zoo" / "artifacts" / "sst2-lstm" / "tokenizer.json"


@pytest.fixture(scope="module")
def tokenizer() -> WordPieceTokenizer:
    return WordPieceTokenizer(TOKENIZER, max_chars=50)


def test_user_text_and_treebank_text_normalise_alike():
    assert normalise("It doesn't  (quite) work") == "It does n't (quite) work"
    assert normalise("it does n't -lrb- quite -rrb- work") == "it does n't ( quite ) work"


def test_user_text_tokenises_like_the_training_data(tokenizer):
    [user, treebank] = tokenizer.encode(["It doesn't work.", "it does n't work ."])
    assert user == treebank


def test_no_special_tokens_padding_or_truncation(tokenizer):
    [ids] = tokenizer.encode(["good"])
    assert len(ids) == 1 and tokenizer.tokenizer.id_to_token(ids[0]) == "good"


def test_pad_right_aligns_and_records_lengths(tokenizer):
    batch = tokenizer.pad([[5, 6, 7], [8]])
    np.testing.assert_array_equal(batch.token_ids, [[5, 6, 7], [8, tokenizer.padding_id, tokenizer.padding_id]])
    np.testing.assert_array_equal(batch.lengths, [3, 1])
    assert batch.token_ids.dtype == np.int64 and batch.lengths.dtype == np.int64


@pytest.mark.parametrize("texts, message", [
    (["fine", "x" * 51], r"texts\[1\] has 51 characters; the maximum is 50"),
    (["   "], r"texts\[0\] has no words"),
    (["\u200b"], r"texts\[0\] has no words"),
    (["ok", 3], r"texts\[1\] is a int"),
])
def test_unusable_texts_are_named(tokenizer, texts, message):
    with pytest.raises(TextError, match=message):
        tokenizer.encode(texts)


# --- properties (hypothesis): any text is read or refused with the module's own error -------------------
@pytest.fixture(scope="module")
def shipped_tokenizer():
    return SentimentPredictor(ARTIFACTS_DIR / "sst2-lstm", with_session=False).tokenizer


@PROPERTY_SETTINGS
@given(st.text(max_size=1100))
def test_any_text_is_tokenised_or_refused_with_the_reason(shipped_tokenizer, text):
    try:
        [ids] = shipped_tokenizer.encode([text])
    except TextError as error:
        assert "texts[0]" in str(error)
        assert len(text) > 1000 or not normalise(text)  or "no words" in str(error)
        return
    assert ids and all(0 <= i < shipped_tokenizer.vocab_size for i in ids)


@PROPERTY_SETTINGS
@given(st.text(max_size=200))
def test_normalisation_is_idempotent(text):
    assert normalise(normalise(text)) == normalise(text)
