"""A real training run on a tiny config: data -> train -> checkpoint -> ONNX -> card, in seconds."""
import numpy as np
import pytest
import torch

import training.sentiment.train as train_sentiment
from training.checkpoints import load_checkpoint
from training.sentiment.data import hold_out_sentences
from training.sentiment.export import rebuild
from zoo.cards import ModelCard
from zoo.tasks.sentiment.predictor import SentimentPredictor


def test_tiny_training_run_exports_a_servable_model(tmp_path, data_dir):
    train_sentiment.main([
        "--model", "test-sst2-gru", "--epochs", "2", "--limit-train", "3000", "--validation-sentences", "100",
        "--batch-size", "32", "--threads", "1", "--data-dir", str(data_dir),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--artifacts-dir", str(tmp_path / "artifacts"),
    ])
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "test-sst2-gru.pt")  # weights_only=True
    assert checkpoint["model_name"] == "test-sst2-gru" and checkpoint["iterations_run"] == 2
    assert checkpoint["train_seconds"] < 30
    assert isinstance(rebuild(checkpoint), torch.nn.Module)

    card = ModelCard.load(tmp_path / "artifacts" / "test-sst2-gru")
    accuracy = card.metric("accuracy")
    assert accuracy.examples == 872
    assert abs(accuracy.baseline_value - 0.509174) < 1e-6  # train's majority class (positive) on dev
    assert accuracy.value > accuracy.baseline_value + 0.1  # even 3,000 phrases and 2 epochs learn something
    assert card.export.parity_max_abs_diff <= card.export.parity_tolerance

    predictor = SentimentPredictor(tmp_path / "artifacts" / "test-sst2-gru")
    probabilities = predictor.probabilities(["a gorgeous film", "dull"])
    assert probabilities.shape == (2, 2)
    torch.testing.assert_close(torch.from_numpy(probabilities.sum(axis=1)), torch.ones(2))


def test_distillation_loss_is_zero_only_when_the_student_matches_the_teacher():
    teacher = torch.tensor([[2.0, -1.0], [0.5, 0.3]])
    assert train_sentiment.distillation_loss(teacher.clone(), teacher, 2.0).item() < 1e-7
    assert train_sentiment.distillation_loss(torch.zeros(2, 2), teacher, 2.0).item() > 0.01


def test_teacher_logits_from_another_train_set_are_refused(tmp_path):
    path = tmp_path / "teacher.npz"
    np.savez(path, train_logits=np.zeros((2, 2), np.float32), train_sha256="0" * 64, dev_accuracy=0.9)
    config = train_sentiment.Config(teacher=str(path))
    with pytest.raises(SystemExit, match="different train.tsv"):
        train_sentiment.load_teacher(config, ["a", "b"], [0, 1])
    assert train_sentiment.load_teacher(train_sentiment.Config(), ["a"], [0]) == (None, {})


def test_held_out_sentences_share_no_phrase_with_training():
    texts = ["a fine film", "fine film", "a fine", "the plot is thin but the cast is fun", "the plot is thin",
             "cast is fun", "a dull and dreary affair", "dull"]
    train_rows, val_rows = hold_out_sentences(texts, count=1, seed=0)
    [sentence] = [texts[row] for row in val_rows]
    assert sentence in ("the plot is thin but the cast is fun", "a dull and dreary affair")  # whole sentences only
    assert all(texts[row] not in sentence for row in train_rows)
    dropped = set(range(len(texts))) - set(train_rows) - set(val_rows)
    assert dropped and all(texts[row] in sentence for row in dropped)  # its phrases train nobody
