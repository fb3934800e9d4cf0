"""Generation preprocessing (zoo/tasks/generation/vocabulary.py): the character vocabulary, its round trip
and the characters it refuses, also as a property (hypothesis) over any text."""
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import PROPERTY_SETTINGS
from tests.helpers import SHAKESPEARE_LINES as TEXT
from zoo.artifacts import ARTIFACTS_DIR
from zoo.task import TextError
from zoo.tasks.generation.predictor import GenerationPredictor
from zoo.tasks.generation.vocabulary import CharVocabulary


def test_vocabulary_round_trip_and_unknown_characters(tmp_path):
    vocabulary = CharVocabulary.from_text(TEXT)
    assert vocabulary.decode(vocabulary.encode("hear me")) == "hear me"
    vocabulary.save(tmp_path / "vocab.json")
    assert CharVocabulary.load(tmp_path / "vocab.json").characters == vocabulary.characters
    with pytest.raises(TextError, match=r"characters '#é' are not in this model's vocabulary; allowed: "):
        vocabulary.encode("hear é me #")


# --- properties (hypothesis) ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vocabulary() -> CharVocabulary:
    return GenerationPredictor(ARTIFACTS_DIR / "shakespeare-gru", with_session=False).vocabulary


@PROPERTY_SETTINGS
@given(data=st.data())
def test_text_in_the_vocabulary_round_trips_and_other_characters_are_named(vocabulary, data):
    text = data.draw(st.text(alphabet=st.sampled_from(vocabulary.characters), max_size=50))
    assert vocabulary.decode(vocabulary.encode(text)) == text
    stranger = data.draw(st.characters().filter(lambda c: c not in vocabulary.index))
    with pytest.raises(TextError, match="not in this model's vocabulary"):
        vocabulary.encode(text + stranger)
