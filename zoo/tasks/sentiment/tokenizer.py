"""Sentiment preprocessing shared by training and serving: normalise, WordPiece-tokenise, pad (numpy only)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from zoo.task import TextError

# SST-2 is Penn-Treebank tokenised ("does n't", "-lrb-"); users type "doesn't" and "(".
# Mapping both to one form keeps serving inputs in the distribution the model was trained on.
_PTB_BRACKETS = {"-lrb-": "(", "-rrb-": ")", "-lsb-": "[", "-rsb-": "]", "-lcb-": "{", "-rcb-": "}"}
_BRACKET_PATTERN = re.compile("|".join(map(re.escape, _PTB_BRACKETS)), re.IGNORECASE)
_NEGATION_PATTERN = re.compile(r"(\w)n't\b", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
NORMALISATION = "PTB brackets -> ( ) [ ] { }; \"xn't\" -> \"x n't\"; whitespace collapsed; WordPiece lowercases"


def normalise(text: str) -> str:
    text = _BRACKET_PATTERN.sub(lambda match: _PTB_BRACKETS[match.group(0).lower()], text)
    text = _NEGATION_PATTERN.sub(r"\1 n't", text)
    return _SPACES.sub(" ", text).strip()


MAX_TEXT_CHARS = 1000  # per text served; SST-2's longest dev sentence has 244


@dataclass
class TokenBatch:
    token_ids: np.ndarray  # (B, T) int64, right-padded
    lengths: np.ndarray  # (B,) int64, each >= 1


class WordPieceTokenizer:
    """The MiniLM WordPiece vocabulary without special tokens, padding or truncation."""

    def __init__(self, path: Path, max_chars: int):
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.max_chars = max_chars
        self.padding_id = self.tokenizer.token_to_id("[PAD]")
        self.vocab_size = self.tokenizer.get_vocab_size()

    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids per text; raises TextError naming the first text that is too long or empty."""
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TextError(f"texts[{index}] is a {type(text).__name__}; texts must be strings")
            if len(text) > self.max_chars:
                raise TextError(f"texts[{index}] has {len(text)} characters; the maximum is {self.max_chars}")
        encodings = self.tokenizer.encode_batch([normalise(t) for t in texts], add_special_tokens=False)
        ids = [encoding.ids for encoding in encodings]
        for index, token_ids in enumerate(ids):
            if not token_ids:
                raise TextError(f"texts[{index}] has no words after normalisation; send non-empty text")
        return ids

    def pad(self, ids: list[list[int]]) -> TokenBatch:
        lengths = np.array([len(x) for x in ids], dtype=np.int64)
        token_ids = np.full((len(ids), int(lengths.max())), self.padding_id, dtype=np.int64)
        for row, x in enumerate(ids):
            token_ids[row, : len(x)] = x
        return TokenBatch(token_ids, lengths)

    def save(self, path: Path) -> None:
        self.tokenizer.save(str(path))
