"""Sentiment training: the SST-2 reader on a fixture, a real training run on a tiny config (data -> train ->
checkpoint -> ONNX -> card, in seconds), distillation, held-out sentences, and the ONNX export of every cell
type (native ops, dynamic shapes, parity with torch, padding invariance)."""
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import training.sentiment.train as train_sentiment
from tests.helpers import SST2_PAYLOAD as PAYLOAD
from training.checkpoints import load_checkpoint
from training.data import DataError
from training.sentiment.data import hold_out_sentences, read_sst2_tsv
from training.sentiment.export import export_onnx, rebuild
from zoo import create_model
from zoo.artifacts import create_session
from zoo.cards import ModelCard
from zoo.tasks.sentiment.predictor import SentimentPredictor


@pytest.fixture()
def sst2_file(tmp_path) -> Path:
    path = tmp_path / "train.tsv"
    path.write_bytes(PAYLOAD)
    return path


def test_reads_sentences_and_labels(sst2_file):
    data = read_sst2_tsv(sst2_file)
    assert len(data) == 6
    assert data.texts[0] == "a slow film about nothing much"  # trailing space stripped
    assert data.labels == [0, 0, 1, 0, 0, 1]


def test_malformed_rows_are_reported_with_their_line(tmp_path):
    path = tmp_path / "bad.tsv"
    path.write_text("sentence\tlabel\ngood\t1\nbad\t7\n")
    with pytest.raises(DataError, match=r"bad.tsv:3"):
        read_sst2_tsv(path)
    path.write_text("text\tlabel\n")
    with pytest.raises(DataError, match="header"):
        read_sst2_tsv(path)


# --- training -----------------------------------------------------------------------------------------
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


# --- ONNX export ----------------------------------------------------------------------------------------
CELLS = ["rnn", "lstm", "gru"]
NATIVE_OP = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def exported(cell, tmp_path):
    torch.manual_seed(0)
    model = create_model(f"test-sst2-{cell}", pretrained_dim=12).eval()
    model.fold_embedding(torch.float16)
    path = tmp_path / f"{cell}.onnx"
    export_onnx(model, path)
    return model, path


def random_batch(batch_size, max_length, seed):
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(1, max_length + 1, (batch_size,), generator=generator)
    lengths[0] = max_length
    token_ids = torch.randint(1, 30522, (batch_size, max_length), generator=generator)
    token_ids[torch.arange(max_length).unsqueeze(0) >= lengths.unsqueeze(1)] = 0
    return token_ids, lengths


@pytest.mark.parametrize("cell", CELLS)
def test_export_uses_the_native_recurrent_op(cell, tmp_path):
    _, path = exported(cell, tmp_path)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert NATIVE_OP[cell] in ops


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("batch_size, max_length", [(1, 1), (5, 13), (33, 64)])
def test_onnxruntime_matches_torch_at_shapes_unlike_the_export_sample(cell, batch_size, max_length, tmp_path):
    model, path = exported(cell, tmp_path)
    token_ids, lengths = random_batch(batch_size, max_length, seed=batch_size)
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    (onnx_logits,) = session.run(["logits"], {"token_ids": token_ids.numpy(), "lengths": lengths.numpy()})
    with torch.no_grad():
        torch_logits = model(token_ids, lengths).numpy()
    assert onnx_logits.shape == (batch_size, 2)
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-5, rtol=0)


@pytest.mark.parametrize("cell", CELLS)
def test_a_text_scores_the_same_alone_and_in_a_padded_batch(cell, tmp_path):
    """Right padding plus in-length reversal: batch-mates never change a text's logits."""
    _, path = exported(cell, tmp_path)
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    token_ids, lengths = random_batch(6, 20, seed=7)
    (batched,) = session.run(["logits"], {"token_ids": token_ids.numpy(), "lengths": lengths.numpy()})
    for row in range(6):
        n = int(lengths[row])
        (alone,) = session.run(["logits"], {"token_ids": token_ids[row : row + 1, :n].numpy(),
                                            "lengths": lengths[row : row + 1].numpy()})
        np.testing.assert_allclose(batched[row], alone[0], atol=1e-5, rtol=0)


def test_folding_the_projection_keeps_the_function(tmp_path):
    torch.manual_seed(0)
    model = create_model("test-sst2-gru", pretrained_dim=12).eval()
    token_ids, lengths = random_batch(4, 9, seed=3)
    with torch.no_grad():
        before = model(token_ids, lengths)
        model.fold_embedding(torch.float32)
        after = model(token_ids, lengths)
    assert model.projection is None and model.embedding.weight.shape == (30522, 8)
    torch.testing.assert_close(before, after, atol=1e-5, rtol=0)
