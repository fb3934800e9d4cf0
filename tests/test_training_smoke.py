"""A real training run on a tiny config: data -> train -> checkpoint -> ONNX -> card, in seconds."""
import time

import torch

from training import train_sentiment
from training.export import load_checkpoint, rebuild
from zoo.cards import ModelCard
from zoo.runtime import SentimentPredictor


def test_tiny_training_run_exports_a_servable_model(tmp_path, data_dir):
    started = time.perf_counter()
    train_sentiment.main([
        "--model", "test-sst2-gru", "--pretrained", "none", "--epochs", "2", "--limit-train", "400",
        "--validation-size", "100", "--batch-size", "32", "--threads", "1", "--data-dir", str(data_dir),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--artifacts-dir", str(tmp_path / "artifacts"),
    ])
    assert time.perf_counter() - started < 60

    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "test-sst2-gru.pt")  # weights_only=True
    assert checkpoint["model_name"] == "test-sst2-gru" and checkpoint["epochs_run"] == 2
    assert isinstance(rebuild(checkpoint), torch.nn.Module)

    card = ModelCard.load(tmp_path / "artifacts" / "test-sst2-gru")
    accuracy = card.metric("accuracy")
    assert accuracy.examples == 872 and 0.0 <= accuracy.value <= 1.0
    assert abs(accuracy.baseline_value - 0.509174) < 1e-6  # train's majority class is positive
    assert card.export.parity_max_abs_diff <= card.export.parity_tolerance

    predictor = SentimentPredictor(tmp_path / "artifacts" / "test-sst2-gru")
    probabilities = predictor.probabilities(["a gorgeous film", "dull"])
    assert probabilities.shape == (2, 2)
    torch.testing.assert_close(torch.from_numpy(probabilities.sum(axis=1)), torch.ones(2))
