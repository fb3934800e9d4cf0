"""Choosing the next character from logits: temperature, top-k and nucleus (top-p), seeded (numpy only)."""
from __future__ import annotations

import numpy as np


def next_token(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None) -> int:
    """Sample one id from (V,) logits. top_k keeps the k likeliest; top_p the smallest set whose
    probability reaches p; both may be combined (k first). The same rng state gives the same id."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    scaled = logits.astype(np.float64) / temperature
    order = np.argsort(-scaled, kind="stable")  # likeliest first; stable so ties break the same way
    if top_k is not None:
        order = order[: max(1, top_k)]
    probabilities = np.exp(scaled[order] - scaled[order[0]])
    probabilities /= probabilities.sum()
    if top_p is not None:
        keep = int(np.searchsorted(np.cumsum(probabilities), top_p) + 1)  # first index reaching p, inclusive
        order, probabilities = order[:keep], probabilities[:keep] / probabilities[:keep].sum()
    return int(order[rng.choice(len(order), p=probabilities)])


def greedy_token(logits: np.ndarray) -> int:
    return int(np.argmax(logits))
