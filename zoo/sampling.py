"""Choosing the next character from logits: temperature, top-k and nucleus (top-p), seeded (numpy only).

`next_tokens` samples a whole batch of streams in one vectorised pass, each row from its own generator
with its own settings; `next_token` is the same function for one row, so a stream draws the same
characters alone, in a batch, or in a bare loop. The draw is an inverse-CDF lookup with one
`rng.random()` per row: the same arithmetic as `rng.choice(k, p=probabilities)`.
"""
from __future__ import annotations

import secrets
from typing import Sequence

import numpy as np


def next_tokens(logits: np.ndarray, rngs: Sequence[np.random.Generator], temperature: np.ndarray,
                top_k: np.ndarray, top_p: np.ndarray) -> np.ndarray:
    """Sample one id per row of (B, V) logits.

    temperature (B,) > 0; top_k (B,) ints, the k likeliest kept (>= V: all); top_p (B,) in (0, 1], the
    smallest set of likeliest ids whose probability reaches p kept (1.0: all); k applies first.
    Returns (B,) int64 ids.
    """
    temperature = np.asarray(temperature, dtype=np.float64)
    if not (temperature > 0).all():
        raise ValueError(f"temperature must be > 0, got {temperature.tolist()}")
    B, V = logits.shape
    rows = np.arange(B)[:, None]  # (B, 1)
    scaled = logits.astype(np.float64) / temperature[:, None]  # (B, V)
    order = (-scaled).argsort(axis=1, kind="stable")  # (B, V) likeliest first; stable: ties break alike
    ranked = scaled[rows, order]  # (B, V) descending
    rank = np.arange(V)  # (V,)
    kept = np.asarray(top_k).clip(1, V)  # (B,) ranks kept
    keep = rank < kept[:, None]  # (B, V)
    probabilities = np.exp(ranked - ranked[:, :1])
    probabilities[~keep] = 0.0
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    top_p = np.asarray(top_p, dtype=np.float64)
    if (top_p < 1.0).any():  # keep up to the first rank whose cumulative probability reaches p, inclusive
        reach = (probabilities.cumsum(axis=1) < top_p[:, None]).sum(axis=1) + 1  # (B,)
        kept = np.where(top_p < 1.0, np.minimum(kept, reach), kept)
        probabilities[rank >= kept[:, None]] = 0.0
        probabilities /= probabilities.sum(axis=1, keepdims=True)
    cdf = probabilities.cumsum(axis=1)  # (B, V); flat at its total after the last kept rank
    cdf /= cdf[:, -1:]
    draws = np.array([rng.random() for rng in rngs])  # (B,) one uniform per stream, from its own generator
    index = np.minimum((cdf <= draws[:, None]).sum(axis=1), kept - 1)  # (B,)
    return order[rows[:, 0], index]


def next_token(logits: np.ndarray, rng: np.random.Generator, temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None) -> int:
    """Sample one id from (V,) logits; `next_tokens` for a batch of one. The same rng state gives the same id."""
    return int(next_tokens(logits[None, :], [rng], np.array([temperature]),
                           np.array([top_k if top_k is not None else len(logits)]),
                           np.array([top_p if top_p is not None else 1.0]))[0])


def seed_or_fresh(seed: int | None) -> int:
    """The seed asked for, or a fresh random one (63 bits: what the API's seed field takes)."""
    return seed if seed is not None else secrets.randbits(63)


def greedy_token(logits: np.ndarray) -> int:
    return int(np.argmax(logits))
