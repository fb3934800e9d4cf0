"""zoo.cells, the numpy reading of the three cells, computes what torch, onnxruntime and the shipped files do."""
import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from zoo import cells
from zoo.artifacts import ARTIFACTS_DIR, create_session
from zoo.tasks.generation.predictor import GenerationPredictor


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_numpy_cells_match_torch_with_and_without_state(cell):
    torch.manual_seed(0)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](5, 7, num_layers=2, batch_first=True)
    layers = cells.layers_from_state_dict({k: v.detach().numpy() for k, v in module.state_dict().items()})
    inputs = torch.randn(3, 11, 5)
    state = tuple(torch.randn(2, 3, 7) for _ in range(2 if cell == "lstm" else 1))
    for given in (None, state):
        with torch.no_grad():
            expected, expected_state = module(inputs, None if given is None else (given if cell == "lstm" else given[0]))
        expected_state = expected_state if isinstance(expected_state, tuple) else (expected_state,)
        outputs, new_state = cells.run(cell, inputs.numpy(), layers, None if given is None else tuple(s.numpy() for s in given))
        np.testing.assert_allclose(outputs, expected.numpy(), atol=1e-5)
        for ours, theirs in zip(new_state, expected_state):
            np.testing.assert_allclose(ours, theirs.numpy(), atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_onnx_gate_order_feeds_the_onnx_op(cell):
    """One ONNX recurrent node built by hand with onnx_gate_order's weights computes what zoo.cells does."""
    rng = np.random.default_rng(1)
    hidden, features = 6, 4
    gates = cells.GATES[cell]
    layer = cells.Layer(*(0.5 * rng.standard_normal(shape).astype(np.float32) for shape in
                          [(gates * hidden, features), (gates * hidden, hidden), (gates * hidden,), (gates * hidden,)]))
    weights = {"W": cells.onnx_gate_order(cell, layer.w_ih)[None], "R": cells.onnx_gate_order(cell, layer.w_hh)[None],
               "B": np.concatenate([cells.onnx_gate_order(cell, layer.b_ih), cells.onnx_gate_order(cell, layer.b_hh)])[None]}
    attributes = {"hidden_size": hidden, **({"linear_before_reset": 1} if cell == "gru" else {})}
    node = helper.make_node(cell.upper() if cell != "rnn" else "RNN", ["X", "W", "R", "B"], ["Y", "Y_h"], **attributes)
    graph = helper.make_graph([node], "one_cell", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", features])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 1, "B", hidden]),
                               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, "B", hidden])],
                              [numpy_helper.from_array(v, k) for k, v in weights.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model, full_check=True)
    inputs = rng.standard_normal((3, 9, features)).astype(np.float32)  # (B, T, E)
    y, y_h = create_session(model.SerializeToString(), ["CPUExecutionProvider"]).run(None, {"X": inputs.transpose(1, 0, 2)})
    outputs, state = cells.run(cell, inputs, [layer])
    np.testing.assert_allclose(y[:, 0].transpose(1, 0, 2), outputs, atol=1e-5)
    np.testing.assert_allclose(y_h, state[0], atol=1e-5)


@pytest.mark.parametrize("name", ["shakespeare-rnn", "shakespeare-lstm", "shakespeare-gru"])
def test_numpy_cells_reproduce_a_shipped_character_model(name):
    """The shipped file's weights (recovered by training.from_onnx) through zoo.cells give onnxruntime's logits."""
    from training.from_onnx import torch_model

    graph = torch_model(ARTIFACTS_DIR / name)  # StepGraph around CharLanguageModel
    weights = {k: v.numpy() for k, v in graph.model.state_dict().items()}
    generator = GenerationPredictor(ARTIFACTS_DIR / name, ["CPUExecutionProvider"])
    tokens = generator.vocabulary.encode("ROMEO:\nWhat light through yonder")[None, :]  # (1, T)
    (expected,), _ = generator.step(tokens, generator.initial_state(1))
    embedded = weights["embedding.weight"][tokens]  # (1, T, E)
    outputs, _ = cells.run(generator.card.architecture.cell, embedded,
                           cells.layers_from_state_dict(weights, prefix="core.rnn."))
    logits = outputs @ weights["head.weight"].T + weights["head.bias"]  # (1, T, V)
    np.testing.assert_allclose(logits, expected, atol=2e-4)


def test_unknown_cell_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="cells are"):
        cells.run("transformer", np.zeros((1, 1, 1), np.float32), [])
