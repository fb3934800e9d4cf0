"""zoo.sampling: seeded draws, top-k and top-p, and the batched sampler the service uses."""
import numpy as np
import pytest

from zoo.sampling import greedy_token, next_token, next_tokens


def test_sampling_is_seeded_and_respects_top_k_and_top_p():
    logits = np.array([3.0, 2.9, 0.0, -1.0, -5.0])
    draws = [next_token(logits, np.random.default_rng(7), temperature=1.0) for _ in range(3)]
    assert len(set(draws)) == 1  # same seed, same choice
    rng = np.random.default_rng(0)
    assert {next_token(logits, rng, top_k=2) for _ in range(200)} == {0, 1}
    assert {next_token(logits, rng, top_p=0.5) for _ in range(200)} == {0}
    assert greedy_token(logits) == 0
    with pytest.raises(ValueError, match="temperature"):
        next_token(logits, rng, temperature=0.0)


def test_batched_sampling_equals_one_row_at_a_time():
    """The service samples all streams in one pass; each row must get what a lone stream would."""
    rng = np.random.default_rng(0)
    logits = (rng.normal(size=(12, 65)) * 3).astype(np.float32)
    temperature = rng.uniform(0.3, 1.5, 12)
    top_k = np.array([65, 40, 5, 1] * 3)
    top_p = np.array([1.0, 0.9, 0.5, 0.95] * 3)
    batch = next_tokens(logits, [np.random.default_rng(i) for i in range(12)], temperature, top_k, top_p)
    alone = [next_token(logits[i], np.random.default_rng(i), temperature[i], int(top_k[i]), float(top_p[i]))
             for i in range(12)]
    assert batch.tolist() == alone
    assert batch[3] == np.argmax(logits[3])  # top_k=1 is greedy
    # the inverse-CDF draw is numpy's own choice(): a seed means the same character it always did
    probabilities = np.exp(logits[0].astype(np.float64) - logits[0].max())
    order = np.argsort(-logits[0], kind="stable")
    expected = order[np.random.default_rng(5).choice(65, p=probabilities[order] / probabilities.sum())]
    assert next_token(logits[0], np.random.default_rng(5)) == expected
