"""Subword vocabularies of the translation models, shared by training and serving: one BPE model per language
(the `tokenizers` library), SentencePiece-style word boundaries ("▁" marks a word's start) so that decoding gives
back detokenised text, and four special tokens. Numpy and `tokenizers` only: the served bento has both."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

from zoo.task import TextError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
SPECIALS = (PAD, UNK, BOS, EOS)  # ids 0, 1, 2, 3 in every vocabulary, in this order
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(4)
MAX_TEXT_CHARS = 1000  # per text served; Multi30k's longest German training sentence has 254


@dataclass(frozen=True)
class Encoded:
    ids: list[int]  # subword ids, EOS last
    unknown: list[str]  # characters the vocabulary has no piece for, each read as <unk>, in order of appearance


class SubwordVocabulary:
    """A `tokenizers` BPE tokenizer file read for one language: text <-> subword ids."""

    def __init__(self, path: Path):
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        found = [self.tokenizer.token_to_id(token) for token in SPECIALS]
        if found != list(range(len(SPECIALS))):
            raise ValueError(f"{path}: the special tokens {list(SPECIALS)} must have ids 0-3, found {found}")
        self.size = self.tokenizer.get_vocab_size()

    def encode(self, texts: list[str], max_chars: int = MAX_TEXT_CHARS) -> list[Encoded]:
        """Each text's ids with EOS appended; TextError naming the first text that is not a string, is empty or
        is longer than `max_chars`. Characters outside the vocabulary become <unk> and are listed, not refused:
        a name or a symbol the training text never had should not stop the rest of the sentence."""
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TextError(f"texts[{index}] is a {type(text).__name__}; texts must be strings")
            if len(text) > max_chars:
                raise TextError(f"texts[{index}] has {len(text)} characters; the maximum is {max_chars}")
            if not text.strip():
                raise TextError(f"texts[{index}] is empty; send a sentence to translate")
        encodings = self.tokenizer.encode_batch([normalise(t) for t in texts], add_special_tokens=False)
        results = []
        for text, encoding in zip(texts, encodings):
            unknown = [normalise(text)[start:end] for token_id, (start, end) in zip(encoding.ids, encoding.offsets)
                       if token_id == UNK_ID]
            results.append(Encoded([*encoding.ids, EOS_ID], unknown))
        return results

    def decode(self, ids: list[int]) -> str:
        """Subword ids (specials dropped, EOS or not) -> detokenised text."""
        return self.tokenizer.decode([i for i in ids if i >= len(SPECIALS)], skip_special_tokens=True)

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))


def normalise(text: str) -> str:
    """NFC and single spaces: the same German word typed with a combining umlaut or a precomposed one, and
    runs of spaces or tabs, reach the model alike (Multi30k's text is NFC with single spaces)."""
    return " ".join(unicodedata.normalize("NFC", text).split())
