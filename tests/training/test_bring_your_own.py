"""Bring your own model: an LSTM character model built with onnx.helper (no torch export anywhere), its parity
vectors computed by zoo.cells in numpy, brought in by training.bring_your_own, then served over HTTP."""
import json
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from service.local_server import local_server
from tests.helpers import get, post
from training.bring_your_own import main as bring
from zoo import cells
from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import ModelCard
from zoo.checks import save_parity_vectors
from zoo.tasks.generation.vocabulary import CharVocabulary

HIDDEN, EMBEDDING = 48, 16
VOCABULARY = ARTIFACTS_DIR / "shakespeare-lstm" / "vocab.json"


def lstm_weights(vocab_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Small random weights in PyTorch's gate order (input, forget, candidate, output), as zoo.cells reads them."""
    rng = np.random.default_rng(seed)
    draw = lambda *shape: (0.3 * rng.standard_normal(shape)).astype(np.float32)  # noqa: E731
    return {"embedding": draw(vocab_size, EMBEDDING), "w_ih": draw(4 * HIDDEN, EMBEDDING), "w_hh": draw(4 * HIDDEN, HIDDEN),
            "b_ih": draw(4 * HIDDEN), "b_hh": draw(4 * HIDDEN), "head": draw(HIDDEN, vocab_size), "head_bias": draw(vocab_size)}


def onnx_char_lstm(weights: dict[str, np.ndarray], reorder_gates: bool = True, tokens_name: str = "tokens",
                   batch_major: bool = False) -> onnx.ModelProto:
    """tokens (B, T), h0, c0 (1, B, H) -> Gather -> LSTM op -> MatMul -> logits (B, T, V), hN, cN: the zoo's
    generation contract, built node by node as another framework's exporter would. batch_major: states are
    (B, H) as Keras exports them, reshaped around the LSTM node inside the graph."""
    order = (lambda m: cells.onnx_gate_order("lstm", m)) if reorder_gates else (lambda m: m)
    vocab_size = weights["embedding"].shape[0]
    initializers = {
        "embedding": weights["embedding"], "W": order(weights["w_ih"])[None], "R": order(weights["w_hh"])[None],
        "B": np.concatenate([order(weights["b_ih"]), order(weights["b_hh"])])[None], "head": weights["head"],
        "head_bias": weights["head_bias"], "time_major": np.array([1], dtype=np.int64),
        "state_axis": np.array([0], dtype=np.int64)}
    nodes = [
        helper.make_node("Gather", ["embedding", tokens_name], ["embedded"]),  # (B, T, E)
        helper.make_node("Transpose", ["embedded"], ["x"], perm=[1, 0, 2]),  # (T, B, E): the op's default layout
        helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0_op", "c0_op"], ["y", "hN_op", "cN_op"], hidden_size=HIDDEN),
        helper.make_node("Squeeze", ["y", "time_major"], ["y_squeezed"]),  # (T, 1, B, H) -> (T, B, H)
        helper.make_node("Transpose", ["y_squeezed"], ["outputs"], perm=[1, 0, 2]),  # (B, T, H)
        helper.make_node("MatMul", ["outputs", "head"], ["scores"]),
        helper.make_node("Add", ["scores", "head_bias"], ["logits"]),  # (B, T, V)
    ]
    for name in ("h0", "c0"):  # the op's state is (1, B, H): Keras' (B, H) needs an axis
        nodes.insert(0, helper.make_node("Unsqueeze", [name, "state_axis"], [f"{name}_op"]) if batch_major
                     else helper.make_node("Identity", [name], [f"{name}_op"]))
    for name in ("hN", "cN"):
        nodes.append(helper.make_node("Squeeze", [f"{name}_op", "state_axis"], [name]) if batch_major
                     else helper.make_node("Identity", [f"{name}_op"], [name]))
    # tf2onnx names every dynamic axis as it likes; the zoo's exporter names them "batch" and "sequence"
    batch, sequence = ("unk__55", "unk__56") if batch_major else ("batch", "sequence")
    shape = [batch, HIDDEN] if batch_major else [1, batch, HIDDEN]
    state = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)  # noqa: E731
    graph = helper.make_graph(
        nodes, "char_lstm",
        [helper.make_tensor_value_info(tokens_name, TensorProto.INT64, [batch, sequence]), state("h0"), state("c0")],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, sequence, vocab_size]), state("hN"), state("cN")],
        [numpy_helper.from_array(value, name) for name, value in initializers.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="onnx.helper")
    onnx.checker.check_model(model, full_check=True)
    return model


def numpy_reference(weights: dict[str, np.ndarray], seed: int = 1, batch_major: bool = False) -> tuple[dict, dict]:
    """Parity vectors: inputs, and the outputs zoo.cells computes for them (not onnxruntime, not torch)."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, weights["embedding"].shape[0], (2, 9)).astype(np.int64)
    h0, c0 = (0.5 * rng.standard_normal((2, 1, 2, HIDDEN))).astype(np.float32)
    layer = cells.Layer(weights["w_ih"], weights["w_hh"], weights["b_ih"], weights["b_hh"])
    outputs, (h, c) = cells.run("lstm", weights["embedding"][tokens], [layer], (h0, c0))
    logits = outputs @ weights["head"] + weights["head_bias"]
    if batch_major:  # as Keras' model.predict gives them: (B, H)
        h0, c0, h, c = h0[0], c0[0], h[0], c[0]
    return {"tokens": tokens, "h0": h0, "c0": c0}, {"logits": logits, "hN": h, "cN": c}


def arguments(tmp_path, model: onnx.ModelProto, weights, name="onnx-helper-lstm", batch_major=False) -> list[str]:
    onnx.save(model, str(tmp_path / "model.onnx"))
    save_parity_vectors(tmp_path / "parity.npz", *numpy_reference(weights, batch_major=batch_major))
    return ["--onnx", str(tmp_path / "model.onnx"), "--task", "generation", "--name", name,
            "--tokenizer", str(VOCABULARY), "--parity", str(tmp_path / "parity.npz"),
            "--parity-source", "zoo.cells numpy reference", "--exporter", "onnx.helper, opset 17",
            "--trained-on", "nothing: random weights (a test of the route, not a model)", "--license", "cc0-1.0",
            "--artifacts-dir", str(tmp_path / "zoo")]


@pytest.fixture(scope="module")
def weights():
    return lstm_weights(len(CharVocabulary.load(VOCABULARY)))


@pytest.mark.http
def test_a_model_built_with_onnx_helper_is_brought_measured_and_served(tmp_path, weights, data_dir):
    card = bring(arguments(tmp_path, onnx_char_lstm(weights), weights) + ["--data-dir", str(data_dir)])
    on_disk = ModelCard.load(tmp_path / "zoo" / "onnx-helper-lstm")
    assert on_disk.to_dict() == card.to_dict()
    assert card.architecture.cell == "lstm" and card.architecture.hidden_size == HIDDEN
    assert card.architecture.num_layers == 1 and card.architecture.vocab_size == 65
    assert card.export.parity_vectors.max_abs_diff < 1e-5 and card.export.parity_vectors.source == "zoo.cells numpy reference"
    # Measured here with onnxruntime on the zoo's split, beside the zoo's baseline of that split: random weights
    # score about 4.7 nats/char (a uniform guess: ln 65 = 4.17), far worse than the Kneser-Ney baseline, and the
    # card says so.
    shipped = ModelCard.load(ARTIFACTS_DIR / "shakespeare-lstm").metric("validation_loss_nats_per_char")
    metric = card.metric("validation_loss_nats_per_char")
    assert (metric.split, metric.baseline, metric.baseline_value, metric.examples) == (
        shipped.split, shipped.baseline, shipped.baseline_value, shipped.examples)
    assert 3.5 < metric.value < 6.0 and metric.value > metric.baseline_value

    zoo = tmp_path / "zoo"
    shutil.copytree(ARTIFACTS_DIR / "shakespeare-rnn", zoo / "shakespeare-rnn")  # beside a shipped model
    with local_server(tmp_path / "server.log", env={"RNNZOO_ARTIFACTS": str(zoo)}) as url:
        listing = json.loads(get(f"{url}/models")[1])
        assert listing["broken"] == {}
        assert sorted(c["name"] for c in listing["models"]) == ["onnx-helper-lstm", "shakespeare-rnn"]
        status, body = post(f"{url}/generate", {"model": "onnx-helper-lstm", "prompt": "ROMEO:", "max_new_tokens": 40, "seed": 3})
        assert status == 200 and body["model"] == "onnx-helper-lstm" and len(body["text"]) == 40
        status, session = post(f"{url}/sessions/start", {"model": "onnx-helper-lstm"})
        assert status == 200
        status, step = post(f"{url}/sessions/step", {"session_id": session["session_id"], "text": "To be"})
        assert status == 200 and step["model"] == "onnx-helper-lstm"
        # the Open Inference Protocol sees it like any other model
        status, metadata = get(f"{url}/v2/models/onnx-helper-lstm")
        assert status == 200 and [t["name"] for t in json.loads(metadata)["inputs"]] == ["tokens", "h0", "c0"]


def test_gates_in_pytorch_order_fail_parity_and_nothing_is_written(tmp_path, weights, data_dir):
    """The commonest conversion slip: weights copied without reordering the gates. The graph is valid ONNX,
    runs, and has the right shapes; only the parity vectors catch it."""
    with pytest.raises(SystemExit) as stop:
        bring(arguments(tmp_path, onnx_char_lstm(weights, reorder_gates=False), weights) + ["--data-dir", str(data_dir)])
    assert stop.value.code == 2
    assert not (tmp_path / "zoo" / "onnx-helper-lstm").exists()


def test_refusals_say_what_the_task_needs(tmp_path, weights, capsys):
    with pytest.raises(SystemExit):
        bring(arguments(tmp_path, onnx_char_lstm(weights, tokens_name="input_ids"), weights))
    message = capsys.readouterr().err
    assert "refused" in message and "['tokens', 'h0', 'c0']" in message and "input_ids" in message
    assert not (tmp_path / "zoo" / "onnx-helper-lstm").exists()


def test_keras_shaped_state_gets_the_layer_axis(tmp_path, weights, data_dir):
    """A graph shaped as tf2onnx exports a Keras LSTM with initial_state (state (batch, hidden), dynamic axes
    named "unk__55") is adapted by --batch-major-state and the contract's axis names, then passes the same
    parity check against (batch, hidden) reference outputs."""
    model = onnx_char_lstm(weights, batch_major=True)
    args = arguments(tmp_path, model, weights, name="keras-shaped-lstm", batch_major=True) + ["--data-dir", str(data_dir)]
    with pytest.raises(SystemExit):  # without the flag, the contract refuses the (batch, hidden) state
        bring(args)
    card = bring(args + ["--batch-major-state", "h0,c0,hN,cN"])
    assert [spec.shape for spec in card.inputs] == [["batch", "sequence"], [1, "batch", HIDDEN], [1, "batch", HIDDEN]]
    assert card.outputs[0].shape == ["batch", "sequence", 65]
    assert card.export.parity_vectors.max_abs_diff < 1e-5
