"""Beam search in numpy around the one-step decoder graph, for a batch of sentences at once: every live hypothesis
of every sentence is one row of the next decoder call. Beam size 1 is greedy decoding.

Written here because no library runs beam search over an onnxruntime step with explicit state, and the served
bento has neither torch nor a seq2seq toolkit. It keeps the search apart from the call: `rows_to_step` says what
to run, `advance` takes what the graph returned, so a scheduler can put the rows of many requests in one call.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zoo.tasks.translation.vocabulary import BOS_ID, EOS_ID, PAD_ID

LENGTH_PENALTY = 0.6  # alpha of Wu et al. 2016: a finished hypothesis is ranked by log p / ((5 + |y|) / 6) ** alpha


def length_normalised(score: float, length: int, alpha: float = LENGTH_PENALTY) -> float:
    """Why: summed log-probabilities favour short translations, since every subword costs; dividing by a
    length penalty lets a complete sentence beat one that stops early."""
    return score / ((5 + length) / 6) ** alpha


@dataclass
class Finished:
    tokens: list[int]  # the translation's subword ids, EOS not included
    score: float  # summed log-probability (EOS included when `ended`)
    normalised: float
    attention: np.ndarray  # (T + 1, S) or (T, S): each written subword's (and EOS's) attention over the source
    ended: bool  # False when cut at the maximum length before writing EOS


@dataclass
class _Sentence:
    beam_size: int
    max_length: int
    finished: list[Finished] = field(default_factory=list)
    done: bool = False


class BeamSearch:
    """The search for N sentences. Live hypotheses are rows: `sentence` (B,), `tokens` (B, t) so far, `scores`
    (B,) summed log-probabilities, `attention` (B, t, S) and `state` [(1, B, H), ...]."""

    def __init__(self, initial_state: list[np.ndarray], source_lengths: np.ndarray, beam_size: int,
                 max_lengths: list[int], alpha: float = LENGTH_PENALTY):
        count = len(source_lengths)
        self.alpha = alpha
        self.sentences = [_Sentence(beam_size, max_length) for max_length in max_lengths]
        self.sentence = np.arange(count)  # (B,): one hypothesis (BOS) per sentence to start
        self.tokens = np.zeros((count, 0), dtype=np.int64)
        self.scores = np.zeros(count)
        self.attention = np.zeros((count, 0, int(max(source_lengths.max(initial=1), 1))), dtype=np.float32)
        self.state = initial_state

    @property
    def done(self) -> bool:
        return all(s.done for s in self.sentences)

    def rows_to_step(self) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """(tokens (B, 1) each row's last subword, rows (B,) its sentence, state) for the next decoder call."""
        last = self.tokens[:, -1:] if self.tokens.shape[1] else np.full((len(self.sentence), 1), BOS_ID, np.int64)
        return last.astype(np.int64), self.sentence.astype(np.int64), self.state

    def advance(self, logits: np.ndarray, attention: np.ndarray, state: list[np.ndarray]) -> None:
        """Take the decoder's logits (B, 1, V), attention (B, 1, S) and new state for the rows just stepped."""
        shifted = logits[:, -1].astype(np.float64)
        shifted -= shifted.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # (B, V)
        log_probs[:, [PAD_ID, BOS_ID]] = -np.inf  # never written: padding, and the start that is only read
        candidates = self.scores[:, None] + log_probs  # (B, V)
        keep_rows, keep_tokens, keep_scores = [], [], []
        for index, sentence in enumerate(self.sentences):
            rows = np.flatnonzero(self.sentence == index)
            if sentence.done or not len(rows):
                continue
            flat = candidates[rows].ravel()
            width = log_probs.shape[1]
            # 2 x beam: enough that beam_size survive those ending here; greedy takes the single best, EOS or not
            count = min(2 * sentence.beam_size if sentence.beam_size > 1 else 1, len(flat))
            best = np.argpartition(-flat, count - 1)[:count]
            best = best[np.argsort(-flat[best], kind="stable")]
            length = self.tokens.shape[1] + 1  # subwords written, EOS counted
            live = 0
            for choice in best:
                row, token, score = int(rows[choice // width]), int(choice % width), float(flat[choice])
                if not np.isfinite(score):  # sorted: only never-written subwords (PAD, BOS) are left
                    break
                if token == EOS_ID or length >= sentence.max_length:
                    words = [*self.tokens[row].tolist(), *([] if token == EOS_ID else [token])]
                    history = np.concatenate([self.attention[row], attention[row, -1:]], axis=0)
                    sentence.finished.append(Finished(words, score, length_normalised(score, length, self.alpha),
                                                      history, token == EOS_ID))
                elif live < sentence.beam_size:
                    keep_rows.append(row)
                    keep_tokens.append(token)
                    keep_scores.append(score)
                    live += 1
                if live == sentence.beam_size and len(sentence.finished) >= sentence.beam_size:
                    break
            sentence.done = self._settled(sentence, length, live, [s for s in keep_scores[len(keep_scores) - live:]])
            if sentence.done:  # its live rows leave
                del keep_rows[len(keep_rows) - live :], keep_tokens[len(keep_tokens) - live :]
                del keep_scores[len(keep_scores) - live :]
        keep = np.array(keep_rows, dtype=np.int64)
        self.sentence = self.sentence[keep]
        self.tokens = np.concatenate([self.tokens[keep], np.array(keep_tokens, np.int64)[:, None]], axis=1)
        self.scores = np.array(keep_scores)
        self.attention = np.concatenate([self.attention[keep], attention[keep, -1:]], axis=1)
        self.state = [s[:, keep] for s in state]

    def _settled(self, sentence: _Sentence, length: int, live: int, live_scores: list[float]) -> bool:
        """Whether no live hypothesis can still beat the best finished one: summed log-probabilities only fall,
        so a live score normalised at the longest length it may reach is its best hope."""
        if live == 0 or length >= sentence.max_length:
            return True
        if len(sentence.finished) < sentence.beam_size:
            return False
        best_finished = max(f.normalised for f in sentence.finished)
        return max(length_normalised(s, sentence.max_length, self.alpha) for s in live_scores) < best_finished

    def best(self) -> list[Finished]:
        """Each sentence's best finished hypothesis by normalised score."""
        return [max(s.finished, key=lambda f: f.normalised) for s in self.sentences]
