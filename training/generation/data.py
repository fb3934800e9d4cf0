"""Tiny Shakespeare: the character language models' text, split by character position."""
from __future__ import annotations

from pathlib import Path

from training.data import RemoteFile, data_dir, fetch

TINY_SHAKESPEARE = RemoteFile(
    "tinyshakespeare/input.txt",
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")
TINY_SHAKESPEARE_LICENSE = "public domain text (Shakespeare), compiled by Andrej Karpathy for char-rnn"
# The weights' license follows the data's terms (a Hugging Face license id, and what it asks of users).
WEIGHTS_LICENSE, WEIGHTS_TERMS = "apache-2.0", "trained on public domain text"
TRAIN_FRACTION = 0.9  # first 90% of characters train, last 10% validate, as nanoGPT's shakespeare_char




def load_tinyshakespeare(split: str, directory: Path | None = None) -> str:
    """Tiny Shakespeare's `train` (first 90% of characters) or `validation` (last 10%) text."""
    if split not in ("train", "validation"):
        raise ValueError(f"unknown Tiny Shakespeare split {split!r}; splits: train, validation")
    text = fetch(TINY_SHAKESPEARE, data_dir(directory)).read_text(encoding="utf-8")
    boundary = int(len(text) * TRAIN_FRACTION)
    return text[:boundary] if split == "train" else text[boundary:]
