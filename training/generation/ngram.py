"""The trivial baseline for character models: an interpolated Kneser-Ney n-gram, measured on the same split."""
from __future__ import annotations

import math
from collections import Counter, defaultdict


class KneserNey:
    """Interpolated Kneser-Ney over characters (Chen & Goodman 1998), one discount per order.

    The highest order uses raw counts; lower orders use continuation counts (how many distinct
    characters precede a string), which is what lets "Francisco" not make "cisco" likely everywhere.
    """

    def __init__(self, text: str, order: int = 5):
        self.order = order
        self.alphabet = sorted(set(text))
        raw = [Counter(text[i : i + k] for i in range(len(text) - k + 1)) for k in range(order + 1)]
        self.counts: list[Counter] = [Counter() for _ in range(order + 1)]  # counts[k][gram of length k]
        self.counts[order] = raw[order]
        for k in range(1, order):
            for gram in raw[k + 1]:
                self.counts[k][gram[1:]] += 1  # continuation: one per distinct left neighbour
        self.context_total: list[dict] = [defaultdict(int) for _ in range(order + 1)]
        self.context_types: list[dict] = [defaultdict(int) for _ in range(order + 1)]
        self.discount = [0.0] * (order + 1)
        for k in range(1, order + 1):
            for gram, count in self.counts[k].items():
                self.context_total[k][gram[:-1]] += count
                self.context_types[k][gram[:-1]] += 1
            ones = sum(1 for c in self.counts[k].values() if c == 1)
            twos = sum(1 for c in self.counts[k].values() if c == 2)
            self.discount[k] = ones / (ones + 2 * twos) if ones + twos else 0.75

    def probability(self, history: str, character: str) -> float:
        probability = 1.0 / (len(self.alphabet) + 1)  # order 0: uniform, with room for an unseen character
        for k in range(1, self.order + 1):
            context = history[len(history) - (k - 1) :] if k > 1 else ""
            if len(context) != k - 1:
                break
            total = self.context_total[k].get(context, 0)
            if total == 0:
                break  # unseen context: keep the lower order's estimate
            discount = self.discount[k]
            seen = max(self.counts[k].get(context + character, 0) - discount, 0.0) / total
            probability = seen + discount * self.context_types[k][context] / total * probability
        return probability

    def nats_per_char(self, text: str) -> float:
        total = 0.0
        for i, character in enumerate(text):
            total -= math.log(self.probability(text[max(0, i - self.order + 1) : i], character))
        return total / len(text)
