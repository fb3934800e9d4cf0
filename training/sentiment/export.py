"""Sentiment checkpoint -> ONNX (native recurrent ops) -> parity check -> onnxruntime evaluation -> model card.

    python -m training.sentiment.export checkpoints/sst2-lstm.pt
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from training.checkpoints import build_model, load_checkpoint
from training.cli import run_export
from training.onnx_export import export_graph, export_record, round_weights_fp16, training_record
from training.parity_vectors import from_torch
from training.sentiment.data import SST2_FILES, SST2_LICENSE, WEIGHTS_LICENSE, WEIGHTS_TERMS, load_sst2
from training.task import TrainingTask
from zoo import get_spec
from zoo.artifacts import create_session
from zoo.cards import MODEL_FILE, Architecture, Metric, ModelCard, Preprocessing, TensorSpec, TrainingData, sha256_of
from zoo.models import parameter_count
from zoo.tasks.sentiment.predictor import SentimentPredictor
from zoo.tasks.sentiment.tokenizer import MAX_TEXT_CHARS as MAX_CHARS
from zoo.tasks.sentiment.tokenizer import NORMALISATION, WordPieceTokenizer

PARITY_TOLERANCE = 1e-4  # logits, torch (fp16 table) vs onnxruntime, on real dev sentences
LABELS = ["negative", "positive"]
TOKENIZER_FILE = "tokenizer.json"


def rebuild(checkpoint: dict) -> torch.nn.Module:
    model = build_model(checkpoint)
    model.fold_embedding(torch.float16)
    round_weights_fp16(model)
    return model


def export_onnx(model: torch.nn.Module, path: Path, fp16: bool = True) -> None:
    # The export sample's shape (2, 7) differs from the parity inputs on purpose: a graph that
    # specialised a batch or sequence size fails the parity check instead of shipping.
    token_ids = torch.randint(1000, 2000, (2, 7))
    lengths = torch.tensor([7, 4])
    export_graph(model, (token_ids, lengths), path, input_names=["token_ids", "lengths"], output_names=["logits"],
                 dynamic_axes={"token_ids": {0: "batch", 1: "sequence"}, "lengths": {0: "batch"}, "logits": {0: "batch"}},
                 fp16=fp16)


def export_fp32(model: torch.nn.Module, card: ModelCard, path: Path) -> torch.nn.Module:
    export_onnx(model, path, fp16=False)
    return model


def parity(model: torch.nn.Module, model_path: Path, tokenizer: WordPieceTokenizer, texts: list[str]) -> float:
    """Max |torch - onnxruntime| over the logits of `texts` padded into one batch."""
    batch = tokenizer.pad(tokenizer.encode(texts))
    session = create_session(model_path.read_bytes(), ["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["logits"], {"token_ids": batch.token_ids, "lengths": batch.lengths})
    with torch.no_grad():
        torch_logits = model(torch.from_numpy(batch.token_ids), torch.from_numpy(batch.lengths)).numpy()
    return float(np.abs(onnx_logits - torch_logits).max())


def export_sentiment(checkpoint_path: Path, artifacts_dir: Path, data_dir: str | None, command: str = "") -> ModelCard:
    checkpoint = load_checkpoint(checkpoint_path)
    name = checkpoint["model_name"]
    spec = get_spec(name)
    out = Path(artifacts_dir) / name
    out.mkdir(parents=True, exist_ok=True)

    (out / TOKENIZER_FILE).write_text(checkpoint["extras"]["tokenizer_json"])
    tokenizer = WordPieceTokenizer(out / TOKENIZER_FILE, max_chars=MAX_CHARS)
    tokenizer.save(out / TOKENIZER_FILE)  # re-saved without padding/truncation: the serving settings
    model = rebuild(checkpoint)
    export_onnx(model, out / MODEL_FILE)

    dev = load_sst2("dev", data_dir)
    max_diff = parity(model, out / MODEL_FILE, tokenizer, dev.texts[:37])
    if max_diff > PARITY_TOLERANCE:
        raise RuntimeError(f"{name}: onnxruntime differs from torch by {max_diff:.2e} > {PARITY_TOLERANCE}")

    arguments = checkpoint["model_arguments"]
    card = ModelCard(
        weights_license=WEIGHTS_LICENSE, weights_license_terms=WEIGHTS_TERMS,
        name=name, version="1.0.0", task="sentiment", summary=spec.description,
        architecture=Architecture(
            cell=arguments["cell"], num_layers=arguments["num_layers"], hidden_size=arguments["hidden_size"],
            bidirectional=arguments["bidirectional"], embedding_dim=arguments["embedding_dim"],
            vocab_size=arguments["vocab_size"], parameter_count=parameter_count(model)),
        inputs=[
            TensorSpec("token_ids", "int64", ["batch", "sequence"], "WordPiece ids, right-padded with 0"),
            TensorSpec("lengths", "int64", ["batch"], "tokens per row before padding, >= 1"),
        ],
        outputs=[TensorSpec("logits", "float32", ["batch", 2], "class scores [negative, positive]; softmax gives probabilities")],
        preprocessing=Preprocessing(
            tokenizer_file=TOKENIZER_FILE, tokenizer_sha256=sha256_of(out / TOKENIZER_FILE),
            max_chars=MAX_CHARS, labels=LABELS, normalisation=NORMALISATION),
        training_data=TrainingData(
            dataset="SST-2 (GLUE)", source=SST2_FILES["train"].url, license=SST2_LICENSE,
            train_split=(f"train.tsv minus {checkpoint['config']['validation_sentences']} whole sentences (and their "
                         "phrases) held out for early stopping"),
            evaluation_split="dev.tsv (872 sentences)"),
        metrics=[],
        training=training_record(checkpoint, name, command, "training.sentiment.train",
                                 best_epoch=checkpoint["best_iteration"],
                                 validation_accuracy=round(checkpoint["best_validation"], 4),
                                 teacher_run=checkpoint["extras"].get("teacher", {})),
        export=export_record(out / MODEL_FILE, max_diff, PARITY_TOLERANCE),
        intended_use="English sentence- or phrase-level sentiment (positive/negative) of short reviews, "
                     "for demos, teaching and comparing recurrent cells.",
        limitations=[
            "Trained on movie-review phrases (SST-2); other domains, sarcasm and long documents score worse.",
            "Two classes only: neutral text is forced to one side; the probability is not calibrated for that.",
            "English only; the WordPiece vocabulary is MiniLM's (uncased).",
            f"Texts over {MAX_CHARS} characters are refused rather than truncated.",
        ],
    )
    card = from_torch(out, card, model)  # saves the card with its parity vectors
    card.metrics = evaluate_sentiment(out, data_dir)  # measured with onnxruntime on the shipped files
    card.save(out)
    print(f"{name}: dev accuracy {card.metrics[0].value:.4f} (majority baseline {card.metrics[0].baseline_value:.4f}), "
          f"parity {max_diff:.1e}, {card.export.size_bytes / 1e6:.1f} MB")
    return card


def vocabulary_size(tokenizer: Path | None, outputs: list[TensorSpec]) -> int:
    """A brought model's vocabulary: what its tokenizer.json knows."""
    return Tokenizer.from_file(str(tokenizer)).get_vocab_size()


def majority_class(labels: list[int]) -> int:
    return Counter(labels).most_common(1)[0][0]


def evaluate_sentiment(model_dir: Path, data_dir: str | None) -> list[Metric]:
    """Dev accuracy of the shipped ONNX model beside always predicting train's majority class."""
    predictor = SentimentPredictor(model_dir, ["CPUExecutionProvider"])
    dev = load_sst2("dev", data_dir)
    predicted = predictor.probabilities(dev.texts).argmax(axis=1)
    labels = np.array(dev.labels)
    majority = majority_class(load_sst2("train", data_dir).labels)
    return [Metric(name="accuracy", split="SST-2 dev", value=round(float((predicted == labels).mean()), 6),
                   baseline="majority class of train", baseline_value=round(float((labels == majority).mean()), 6),
                   examples=len(labels))]


def measure(card: ModelCard, directory: Path, data_dir: str | None) -> ModelCard:
    card.metrics = evaluate_sentiment(directory, data_dir)
    return card


TRAINING_TASK = TrainingTask(name=SentimentPredictor.task, export=export_sentiment, export_fp32=export_fp32,
                             measure=measure, vocabulary_size=vocabulary_size)


def main() -> None:
    run_export(export_sentiment, __doc__)


if __name__ == "__main__":
    main()
