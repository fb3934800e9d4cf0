"""Character language models in training: the n-gram baseline, the step-capable ONNX export and its parity,
and a tiny training run."""
import math

import numpy as np
import pytest
import torch

import training.generation.train as train_generation
from tests.helpers import SHAKESPEARE_LINES as TEXT
from training.generation.export import export_onnx, parity, rebuild
from training.generation.ngram import KneserNey
from training.onnx_export import round_weights_fp16
from zoo import create_model
from zoo.artifacts import create_session
from zoo.cards import ModelCard
from zoo.sampling import greedy_token
from zoo.tasks.generation.network import StepGraph
from zoo.tasks.generation.predictor import GenerationPredictor

CELLS = ["rnn", "lstm", "gru"]


def test_kneser_ney_is_a_distribution_and_beats_uniform():
    model = KneserNey(TEXT, order=4)
    for history in ("spe", "xyz", "", "All"):  # the alphabet plus one unseen character share all the mass
        total = sum(model.probability(history, c) for c in model.alphabet) + model.probability(history, "\0")
        assert total == pytest.approx(1.0, abs=1e-9)
    assert model.nats_per_char(TEXT[:200]) < math.log(len(model.alphabet))


def exported(cell, tmp_path):
    torch.manual_seed(0)
    model = create_model(f"test-shakespeare-{cell}").eval()
    round_weights_fp16(model)  # as export does: the file keeps fp16 weights
    graph = StepGraph(model)
    path = tmp_path / f"{cell}.onnx"
    export_onnx(graph, cell, path)
    return graph, path


@pytest.mark.parametrize("cell", CELLS)
def test_onnx_matches_torch_and_steps_match_the_full_sequence(cell, tmp_path):
    graph, path = exported(cell, tmp_path)
    ids = np.random.default_rng(0).integers(0, 65, 4000)
    torch_diff, step_diff = parity(graph, path, ids)
    assert torch_diff < 1e-5 and step_diff < 1e-5


@pytest.mark.parametrize("cell", CELLS)
def test_greedy_generation_step_by_step_equals_argmax_of_a_full_forward(cell, tmp_path):
    _, path = exported(cell, tmp_path)
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    zeros = [np.zeros((2, 1, 16), np.float32) for _ in names[1:]]
    prompt = np.array([[5, 17, 33]], dtype=np.int64)
    logits, *state = session.run(None, {"tokens": prompt, **dict(zip(names[1:], zeros))})
    text = list(prompt[0])
    for _ in range(25):  # greedy, one character per call with the carried state
        text.append(greedy_token(logits[0, -1]))
        logits, *state = session.run(None, {"tokens": np.array([[text[-1]]]), **dict(zip(names[1:], state))})
    (full, *_) = session.run(None, {"tokens": np.array([text]), **dict(zip(names[1:], zeros))})
    assert list(full[0, 2:-1].argmax(-1)) == text[3:]


def test_tiny_training_run_exports_a_step_capable_model(tmp_path, data_dir):
    train_generation.main([
        "--model", "test-shakespeare-lstm", "--max-steps", "60", "--eval-every", "30", "--limit-chars", "60000",
        "--streams", "8", "--chunk", "32", "--threads", "1", "--data-dir", str(data_dir),
        "--checkpoint-dir", str(tmp_path / "checkpoints"), "--artifacts-dir", str(tmp_path / "artifacts"),
    ])
    card = ModelCard.load(tmp_path / "artifacts" / "test-shakespeare-lstm")
    loss = card.metric("validation_loss_nats_per_char")
    assert loss.examples == 111539 and loss.baseline_value == pytest.approx(1.579, abs=0.01)
    assert loss.value < math.log(65)  # 60 tiny steps already beat a uniform guess
    assert [t.name for t in card.inputs] == ["tokens", "h0", "c0"] and [t.name for t in card.outputs][1:] == ["hN", "cN"]
    assert card.samples[0].startswith("ROMEO:") and len(card.samples[0]) == len("ROMEO:") + 400
    generator = GenerationPredictor(tmp_path / "artifacts" / "test-shakespeare-lstm")
    assert generator.nats_per_char(TEXT[:500]) > 0


def test_export_path_switches_dropout_off_for_the_parity_check(tmp_path):
    """rebuild() + export_onnx() as the exporter uses them, on a model with dropout: parity must hold."""
    torch.manual_seed(0)
    model = create_model("test-shakespeare-lstm", dropout=0.5)
    checkpoint = {"model_name": "test-shakespeare-lstm", "model_arguments": {"dropout": 0.5},
                  "state_dict": model.state_dict()}
    graph = rebuild(checkpoint)
    export_onnx(graph, "lstm", tmp_path / "model.onnx")
    torch_diff, step_diff = parity(graph, tmp_path / "model.onnx", np.random.default_rng(0).integers(0, 65, 4000))
    assert torch_diff < 1e-5 and step_diff < 1e-5
