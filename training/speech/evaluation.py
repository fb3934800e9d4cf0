"""How a transcript is scored: the digit error rate's edit distance."""
from __future__ import annotations


def edit_distance(reference: list[int], hypothesis: list[int]) -> int:
    """Substitutions, insertions and deletions that turn `hypothesis` into `reference` (Levenshtein). Written
    here: jiwer would need the digits joined into words, and the dynamic programme is six lines."""
    previous = list(range(len(hypothesis) + 1))
    for i, wanted in enumerate(reference, 1):
        current = [i]
        for j, heard in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (wanted != heard)))
        previous = current
    return previous[-1]
