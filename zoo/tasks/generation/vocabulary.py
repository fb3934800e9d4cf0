"""The character vocabulary of the text-generation models, saved as JSON beside the weights (no torch)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from zoo.task import TextError


class CharVocabulary:
    """Characters <-> ids for the character-level models, saved as JSON beside the weights.

    A character outside the vocabulary is an error that names it: guessing a replacement would
    silently change what the model is asked to continue.
    """

    def __init__(self, characters: str):
        if len(set(characters)) != len(characters):
            raise ValueError("vocabulary characters must be distinct")
        self.characters = characters
        self.index = {character: i for i, character in enumerate(characters)}

    def __len__(self) -> int:
        return len(self.characters)

    @classmethod
    def from_text(cls, text: str) -> "CharVocabulary":
        return cls("".join(sorted(set(text))))

    @classmethod
    def load(cls, path: Path) -> "CharVocabulary":
        return cls(json.loads(Path(path).read_text())["characters"])

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps({"characters": self.characters}, ensure_ascii=False) + "\n")

    def encode(self, text: str) -> np.ndarray:
        """(len(text),) int64 ids; raises TextError listing every unknown character."""
        unknown = sorted({c for c in text if c not in self.index})
        if unknown:
            raise TextError(f"characters {''.join(unknown)!r} are not in this model's vocabulary; "
                            f"allowed: {self.characters!r}")
        return np.fromiter((self.index[c] for c in text), dtype=np.int64, count=len(text))

    def decode(self, ids) -> str:
        return "".join(self.characters[int(i)] for i in ids)
