"""The trivial baselines the translators are scored beside, on the same split with the same sacreBLEU:

- copying the German source (names, numbers and some words are shared, so it is not zero);
- word-by-word lexical translation: each German word replaced by the English word IBM model 1 (Brown et al.
  1993) finds most probable for it, learned by expectation-maximisation on the training pairs.

IBM model 1 is written here (about 30 lines of numpy over a sparse co-occurrence list) because the maintained
alignment tools (fast_align, eflomal) are C++ builds that do more than a baseline needs and are not on PyPI as
wheels for this machine; nltk's IBMModel1 is pure Python dictionaries and takes minutes an iteration here.
"""
from __future__ import annotations

import re
from typing import Callable

import numpy as np

from training.translation.data import Pair

WORD = re.compile(r"\w+|[^\w\s]")  # words, and each punctuation mark on its own
ITERATIONS = 5
NULL = 0  # the empty word every English word may align to instead


def words(text: str) -> list[str]:
    return WORD.findall(text)


def copy_source(sentences: list[str]) -> list[str]:
    return list(sentences)


def lexical_baseline(pairs: list[Pair], iterations: int = ITERATIONS) -> Callable[[str], str]:
    """A function German text -> English text, word by word: the English word e with the highest t(e | f) for
    each German word f (lower-cased to look up; a word never seen in training is copied as it is)."""
    german_ids: dict[str, int] = {"<null>": NULL}
    english_ids: dict[str, int] = {}
    links_f, links_e, links_group = [], [], []  # one link per (English position, German word or NULL) of a pair
    group = 0
    for pair in pairs:
        source = [NULL] + [german_ids.setdefault(w.lower(), len(german_ids)) for w in words(pair.german)]
        for w in words(pair.english):
            links_f += source
            links_e += [english_ids.setdefault(w, len(english_ids))] * len(source)
            links_group += [group] * len(source)
            group += 1
    f, e, groups = np.array(links_f), np.array(links_e), np.array(links_group)
    keys, link_key = np.unique(f * len(english_ids) + e, return_inverse=True)  # the (f, e) pairs that co-occur
    key_f, key_e = keys // len(english_ids), keys % len(english_ids)
    t = np.ones(len(keys)) / len(english_ids)  # t(e | f), uniform to start
    for _ in range(iterations):  # expectation-maximisation
        p = t[link_key]
        share = p / np.bincount(groups, weights=p)[groups]  # each English word's alignment posterior
        counts = np.bincount(link_key, weights=share, minlength=len(keys))
        t = counts / np.bincount(key_f, weights=counts, minlength=len(german_ids))[key_f]
    order = np.lexsort((-t, key_f))  # by German word, most probable English word first
    first = order[np.r_[True, key_f[order][1:] != key_f[order][:-1]]]
    english_words = list(english_ids)
    best = {int(key_f[k]): english_words[int(key_e[k])] for k in first}
    lookup = {word: best[i] for word, i in german_ids.items() if i in best and i != NULL}

    def translate(text: str) -> str:
        out = " ".join(lookup.get(w.lower(), w) for w in words(text))
        return re.sub(r" ([.,!?;:])", r"\1", out)

    return translate
