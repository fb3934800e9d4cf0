"""Sentiment predictor: texts -> WordPiece ids -> one onnxruntime call per length-sorted chunk -> class probabilities."""
from __future__ import annotations

import numpy as np

from zoo.cards import ModelCard
from zoo.checks import expect
from zoo.predictor import OnnxPredictor
from zoo.tasks.sentiment.tokenizer import WordPieceTokenizer


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class SentimentPredictor(OnnxPredictor):
    """Card + tokenizer + ONNX session of one sentiment model; texts in, class probabilities out."""

    task = "sentiment"
    max_rows_per_run = 256  # evaluation batches larger inputs in length-sorted chunks of this size

    @staticmethod
    def check_contract(card: ModelCard) -> None:
        where = f"{card.name} ({card.task})"
        expect(f"{where} inputs", card.inputs, [("token_ids", "int64", ["batch", "sequence"]),
                                                ("lengths", "int64", ["batch"])])
        expect(f"{where} outputs", card.outputs, [("logits", "float32", ["batch", len(card.preprocessing.labels)])])

    def load_preprocessing(self) -> None:
        preprocessing = self.card.preprocessing
        path = self.verified_file(preprocessing.tokenizer_file, preprocessing.tokenizer_sha256)
        self.tokenizer = WordPieceTokenizer(path, max_chars=preprocessing.max_chars)
        self.labels = preprocessing.labels

    def run(self, rows: list[list[int]]) -> np.ndarray:
        """Token-id lists -> (N, C) class probabilities, in input order."""
        order = np.argsort([len(x) for x in rows], kind="stable")  # similar lengths pad less
        result = np.empty((len(rows), len(self.labels)), dtype=np.float32)
        for start in range(0, len(rows), self.max_rows_per_run):
            chunk = order[start : start + self.max_rows_per_run]
            batch = self.tokenizer.pad([rows[i] for i in chunk])
            (logits,) = self.session.run(["logits"], {"token_ids": batch.token_ids, "lengths": batch.lengths})
            result[chunk] = softmax(logits)
        return result

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return self.run(self.tokenizer.encode(texts))

    def predictions(self, probabilities: np.ndarray) -> list[dict]:
        """(N, C) class probabilities -> [{"label", "positive"}, ...]: the answer of /sentiment and its pipeline."""
        positive = probabilities[:, self.labels.index("positive")].tolist()
        return [{"label": self.labels[i], "positive": p} for i, p in zip(probabilities.argmax(axis=1), positive)]
