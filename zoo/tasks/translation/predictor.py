"""Translation predictor: German text -> subwords -> encoder graph (once per sentence) -> decoder step graph (once
per written subword, every live hypothesis of every sentence in one call) -> beam search -> English text."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.cards import CardError, ModelCard
from zoo.checks import ValidationError, expect, expect_step_graph
from zoo.predictor import OnnxPredictor
from zoo.task import TextError
from zoo.tasks.translation.beam import BeamSearch, Finished
from zoo.tasks.translation.vocabulary import MAX_TEXT_CHARS, PAD_ID, Encoded, SubwordVocabulary

ENCODER = "encoder"
MAX_BEAM = 10
EXTRA_LENGTH = 10  # a translation may have up to 2 x source + 10 subwords (English is rarely longer than that)
MAX_TARGET_SUBWORDS = 256  # and never more than this
MAX_SOURCE_SUBWORDS = 250  # per text (Multi30k's longest German sentence has 44; unknown characters count one each)
# Elements of the (rows, source, memory + keys) tensors the decoder graph gathers in one call (about 256 MB at
# the shipped widths): past it the rows go in several calls, so a wide beam over long sources cannot exhaust memory.
ROWS_X_SOURCE_PER_CALL = 65_536


def target_limit(source_subwords: int, max_length: int | None) -> int:
    """The most subwords a translation of a source this long may have."""
    return min(MAX_TARGET_SUBWORDS if max_length is None else max_length, 2 * source_subwords + EXTRA_LENGTH)


@dataclass(frozen=True)
class Translation:
    text: str
    source_pieces: list[str]  # the German subwords the model read, EOS last
    target_pieces: list[str]  # the English subwords it wrote, EOS last unless cut at the maximum length
    attention: np.ndarray  # (target pieces, source pieces): where each written subword looked
    unknown: list[str]  # characters of the input read as <unk>
    score: float  # log-probability of the translation (its EOS included, unless cut at the maximum length)

    def answer(self, attention: bool = False) -> dict:
        """One item of /translate's answer (and the pipeline's): text, score, unknown characters, and with
        `attention` the pieces and where each written piece looked (empty lists without)."""
        return {"text": self.text, "score": self.score, "unknown_characters": self.unknown,
                "source_pieces": self.source_pieces if attention else [],
                "target_pieces": self.target_pieces if attention else [],
                "attention": self.attention.round(4).tolist() if attention else []}


class TranslationPredictor(OnnxPredictor):
    """Card + two verified ONNX sessions (encoder, decoder step) + both vocabularies of one translator."""

    task = "translation"

    @staticmethod
    def check_contract(card: ModelCard) -> None:
        arch = card.architecture
        expect_step_graph(card, [("tokens", "int64", ["batch", "sequence"]),
                                 ("memory", "float32", ["sentences", "source", None]),
                                 ("keys", "float32", ["sentences", "source", arch.hidden_size]),
                                 ("source_lengths", "int64", ["sentences"]),
                                 ("rows", "int64", ["batch"])],
                          [("logits", "float32", ["batch", "sequence", arch.vocab_size]),
                           ("attention", "float32", ["batch", "sequence", "source"])])
        try:
            encoder = card.graph(ENCODER)
        except KeyError as error:
            raise ValidationError(f"{card.name} (translation): {error.args[0]}") from None
        states = ["h0", "c0"] if arch.cell == "lstm" else ["h0"]
        expect(f"{encoder.name} inputs", encoder.inputs, [("source", "int64", ["sentences", "source"]),
                                                          ("lengths", "int64", ["sentences"])])
        expect(f"{encoder.name} outputs", encoder.outputs,
               [("memory", "float32", ["sentences", "source", None]),
                ("keys", "float32", ["sentences", "source", arch.hidden_size]),
                *[(name, "float32", [1, "sentences", arch.hidden_size]) for name in states]])

    def load_preprocessing(self) -> None:
        statistics, preprocessing = self.card.preprocessing.statistics, self.card.preprocessing
        try:
            self.source_vocabulary = SubwordVocabulary(self.verified_file(preprocessing.tokenizer_file,
                                                                          preprocessing.tokenizer_sha256))
            self.target_vocabulary = SubwordVocabulary(self.verified_file(statistics["target_tokenizer_file"],
                                                                          statistics["target_tokenizer_sha256"]))
        except (KeyError, TypeError, ValueError) as error:
            raise CardError(f"{self.card.name}: the vocabularies are incomplete: {error}") from None
        for graph in self.card.graphs:  # a file beside the card, never a path elsewhere
            if Path(graph.export.onnx_file).name != graph.export.onnx_file:
                raise CardError(f"{self.card.name}: graph file {graph.export.onnx_file!r} is not a plain file name")
        if self.target_vocabulary.size > self.card.architecture.vocab_size:
            raise CardError(f"{self.card.name}: the English vocabulary has {self.target_vocabulary.size} pieces, "
                            f"the model {self.card.architecture.vocab_size}")
        self.max_chars = min(preprocessing.max_chars, MAX_TEXT_CHARS)
        self.state_names = ["h0", "c0"] if self.card.architecture.cell == "lstm" else ["h0"]

    def encode(self, texts: list[str]) -> list[Encoded]:
        """German texts -> subword ids (EOS last) and the characters read as <unk>; TextError for bad texts."""
        encoded = self.source_vocabulary.encode(texts, self.max_chars)
        for index, e in enumerate(encoded):
            if len(e.ids) > MAX_SOURCE_SUBWORDS:
                raise TextError(f"texts[{index}] reads as {len(e.ids)} subwords ({len(e.unknown)} unknown characters); "
                                f"the maximum is {MAX_SOURCE_SUBWORDS}")
        return encoded

    def encoder(self, encoded: list[Encoded]) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]:
        """-> memory (N, S, 2K), keys (N, S, H), lengths (N,), initial state [(1, N, H), ...], S = the longest."""
        lengths = np.array([len(e.ids) for e in encoded], dtype=np.int64)
        source = np.full((len(encoded), int(lengths.max())), PAD_ID, dtype=np.int64)
        for row, e in enumerate(encoded):
            source[row, : len(e.ids)] = e.ids
        memory, keys, *state = self.graphs[ENCODER].run(None, {"source": source, "lengths": lengths})
        return memory, keys, lengths, state

    def decoder_step(self, tokens: np.ndarray, memory: np.ndarray, keys: np.ndarray, lengths: np.ndarray,
                     rows: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """tokens (B, T) of rows attending to sentences `rows` (B,) -> logits (B, T, V), attention (B, T, S), state.
        The graph gathers each row's memory (B, S, 2K + H): rows go in calls of at most ROWS_X_SOURCE_PER_CALL / S."""
        step = max(1, ROWS_X_SOURCE_PER_CALL // max(1, memory.shape[1]))
        parts = []
        for start in range(0, len(tokens), step):
            feeds = {"tokens": tokens[start : start + step], "memory": memory, "keys": keys, "source_lengths": lengths,
                     "rows": rows[start : start + step],
                     **{name: s[:, start : start + step] for name, s in zip(self.state_names, state)}}
            parts.append(self.session.run(None, feeds))
        if len(parts) == 1:
            logits, attention, *new_state = parts[0]
        else:
            logits, attention, *new_state = [np.concatenate([p[i] for p in parts], axis=1 if i > 1 else 0)
                                              for i in range(len(parts[0]))]
        return logits, attention, new_state

    def search(self, encoded: list[Encoded], beam_size: int, max_length: int | None = None) -> list[Finished]:
        """The best hypothesis per sentence: beam search (greedy at beam_size 1), all sentences stepped together."""
        memory, keys, lengths, state = self.encoder(encoded)
        limits = [target_limit(int(n), max_length) for n in lengths]
        search = BeamSearch(state, lengths, beam_size, limits)
        while not search.done:
            tokens, rows, carried = search.rows_to_step()
            search.advance(*self.decoder_step(tokens, memory, keys, lengths, rows, carried))
        return search.best()

    def translate(self, texts: list[str], beam_size: int = 4, max_length: int | None = None) -> list[Translation]:
        encoded = self.encode(texts)
        return [self.reading(e, best) for e, best in zip(encoded, self.search(encoded, beam_size, max_length))]

    def reading(self, encoded: Encoded, best: Finished) -> Translation:
        """A finished hypothesis as text, with the pieces and the attention (padding columns dropped)."""
        source_pieces = [self.source_vocabulary.tokenizer.id_to_token(i) for i in encoded.ids]
        target_pieces = [self.target_vocabulary.tokenizer.id_to_token(i) for i in best.tokens]
        target_pieces += ["</s>"] if best.ended else []  # one attention row per piece
        return Translation(self.target_vocabulary.decode(best.tokens), source_pieces, target_pieces,
                           best.attention[:, : len(encoded.ids)], encoded.unknown, round(best.score, 4))

    def run(self, rows: list[str]) -> list[Translation]:
        return self.translate(rows)
