"""Text-generation predictor: a character vocabulary and a step-capable ONNX graph (tokens + state in,
logits + state out), so a prompt is one call and each new character one more."""
from __future__ import annotations

import numpy as np

from zoo.cards import ModelCard
from zoo.checks import expect_step_graph
from zoo.predictor import RecurrentPredictor
from zoo.sampling import next_token
from zoo.task import TextError
from zoo.tasks.generation.vocabulary import CharVocabulary

START_CHARACTER = "\n"


class GenerationPredictor(RecurrentPredictor):
    """Card + character vocabulary + step-capable ONNX session of one character language model.

    The graph takes `tokens (B, T)` and the state (`h0`, and `c0` for LSTMs), and returns `logits
    (B, T, V)` and the new state.
    """

    task = "generation"
    primary_input = "tokens"

    @staticmethod
    def check_contract(card: ModelCard) -> None:
        expect_step_graph(card, [("tokens", "int64", ["batch", "sequence"])],
                          [("logits", "float32", ["batch", "sequence", card.architecture.vocab_size])])

    def load_preprocessing(self) -> None:
        super().load_preprocessing()
        preprocessing = self.card.preprocessing
        self.vocabulary = CharVocabulary.load(self.verified_file(preprocessing.tokenizer_file,
                                                                 preprocessing.tokenizer_sha256))
        # An empty prompt starts as if after a line break: where the corpus' speeches begin.
        self.start_id = self.vocabulary.index.get(START_CHARACTER, 0)

    def run(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        """Token-id arrays (T_i,), each read from the start state -> the next character's logits (V,) after each."""
        results = []
        for ids in rows:
            (logits,), _ = self.step(np.asarray(ids, dtype=np.int64)[None, :], self.initial_state(1))
            results.append(logits[0, -1])
        return results

    def prompt_ids(self, prompt: str) -> np.ndarray:
        """(P,) ids of a prompt; TextError saying what is wrong (too long, characters outside the vocabulary):
        the check of /generate and of its pipeline."""
        limit = self.card.preprocessing.max_chars
        if len(prompt) > limit:
            raise TextError(f"prompt has {len(prompt)} characters; the maximum is {limit}")
        try:
            return self.vocabulary.encode(prompt)
        except TextError as error:
            raise TextError(f"prompt: {error}") from None

    def continuation(self, prompt: np.ndarray, steps: int, rng: np.random.Generator, temperature: float = 0.8,
                     top_k: int | None = 40, top_p: float | None = None) -> list[int]:
        """(P,) prompt ids (empty: the start character) -> `steps` ids sampled one at a time after it, the state
        carried. One text alone; the service's scheduler steps many texts in one call, with the same draws."""
        prompt = np.asarray(prompt, dtype=np.int64) if len(prompt) else np.array([self.start_id], dtype=np.int64)
        (logits,), state = self.step(prompt[None, :], self.initial_state(1))
        ids = []
        for _ in range(steps):
            ids.append(next_token(logits[0, -1], rng, temperature, top_k, top_p))
            (logits,), state = self.step(np.array([[ids[-1]]], dtype=np.int64), state)
        return ids

    def nats_per_char(self, text: str, chunk: int = 1024) -> float:
        """Mean next-character loss over `text` read as one stream from the zero state."""
        ids = self.vocabulary.encode(text)
        state, total = self.initial_state(1), 0.0
        for start in range(0, len(ids) - 1, chunk):
            inputs = ids[start : min(start + chunk, len(ids) - 1)][None, :]  # (1, T)
            targets = ids[start + 1 : start + 1 + inputs.shape[1]]
            (logits,), state = self.step(inputs, state)
            log_probabilities = logits[0] - np.logaddexp.reduce(logits[0], axis=-1, keepdims=True)
            total -= log_probabilities[np.arange(len(targets)), targets].sum()
        return float(total / (len(ids) - 1))
