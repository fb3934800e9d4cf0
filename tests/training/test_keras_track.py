"""The Keras 3 track (training/keras/): each script trained for a few steps, exported, brought in by
training.bring_your_own with parity vectors from Keras' model.predict, then loaded and answered by the zoo's
own loader and pipeline, as the service does. Skipped where keras is not installed:
pip install -e '.[train,keras]'."""
import numpy as np
import pytest

import training.keras  # noqa: F401  (chooses Keras' torch backend before keras is imported)

keras = pytest.importorskip("keras", minversion="3", reason="the Keras track needs keras>=3: pip install -e '.[train,keras]'")

import torch  # noqa: E402

from training.bring_your_own import main as bring  # noqa: E402
from training.keras import export, forecasting, generation  # noqa: E402
from zoo.runtime import load_zoo  # noqa: E402
from zoo.tasks import TASKS  # noqa: E402

# Keras 3.15's own np.array(tensor) calls under numpy 2; not ours to fix
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")


def random_weights(layer: keras.layers.Layer, seed: int = 0) -> None:
    """Every weight random, biases too: Keras starts them at zero (the LSTM's forget bias at one), which would
    hide a bias put in the wrong place."""
    rng = np.random.default_rng(seed)
    layer.set_weights([(0.4 * rng.standard_normal(w.shape)).astype(np.float32) for w in layer.get_weights()])


@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_keras_layers_become_torch_modules_that_compute_the_same(cell):
    """The layout facts of training/keras/export.py, checked numerically against Keras' own call: transposed
    kernels; LSTM gates in PyTorch's order and one bias; GRU gates z, r, h against PyTorch's r, z, n, and two
    biases with reset_after=True."""
    layer = getattr(keras.layers, cell)(7, return_sequences=True, return_state=True)
    x = np.random.default_rng(1).standard_normal((3, 11, 5)).astype(np.float32)  # (B, T, E)
    layer(x)  # builds it
    random_weights(layer)
    kernel, recurrent_kernel, bias = layer.get_weights()
    assert kernel.shape == (5, len(export.TORCH_FROM_KERAS[cell]) * 7)  # (E, G*H): PyTorch's (G*H, E) transposed
    assert bias.shape == ((28,) if cell == "LSTM" else (2, 21))  # one LSTM bias; the GRU's input and recurrent rows
    expected, *expected_state = (keras.ops.convert_to_numpy(y) for y in layer(x))

    module = export.recurrent(layer)
    with torch.no_grad():
        outputs, state = module(torch.from_numpy(x))
    state = state if cell == "LSTM" else (state,)
    assert np.abs(outputs.numpy() - expected).max() < 1e-5
    for ours, theirs in zip(state, expected_state):
        assert np.abs(ours[0].numpy() - theirs).max() < 1e-5

    if cell == "GRU":  # Keras' z, r, h taken as PyTorch's r, z, n: still runs, computes something else
        as_stored = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in zip(
            ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"], [kernel.T, recurrent_kernel.T, *bias])}
        module.load_state_dict(as_stored)
        with torch.no_grad():
            assert np.abs(module(torch.from_numpy(x))[0].numpy() - expected).max() > 0.05


def test_what_torch_cannot_compute_is_refused_with_the_reason():
    layer = keras.layers.GRU(4, reset_after=False)
    layer(np.zeros((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match="reset_after=False"):
        export.recurrent(layer)


def served_by_the_zoo(directory, name: str):
    """The model as the service loads it (checksum, contract, IO spec and parity replayed), in its task's pipeline."""
    zoo = load_zoo(directory, ["CPUExecutionProvider"])
    assert zoo.broken == {} and list(zoo.predictors) == [name]
    predictor = zoo.predictors[name]
    return TASKS[predictor.card.task].pipeline(predictor)


def brought(tmp_path, arguments: list[str], data_dir):
    card = bring([*arguments, "--artifacts-dir", str(tmp_path / "zoo"), "--data-dir", str(data_dir)])
    assert card.export.parity_vectors.source.startswith(f"keras {keras.__version__} model.predict")
    assert card.export.parity_vectors.max_abs_diff < 1e-5
    return card


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_generation_script_is_brought_in_and_served(tmp_path, data_dir, cell):
    arguments = generation.main(["--out", str(tmp_path / "run"), "--cell", cell, "--steps", "3", "--hidden", "16",
                                 "--embedding", "8", "--batch-size", "4", "--length", "16", "--threads", "1",
                                 "--data-dir", str(data_dir)])
    card = brought(tmp_path, arguments, data_dir)
    assert card.architecture.cell == cell and card.architecture.hidden_size == 16
    assert [spec.shape for spec in card.inputs][1] == [1, "batch", 16]  # Keras' (batch, hidden) state, lifted
    # three steps learn next to nothing: near a uniform guess over 65 characters (ln 65 = 4.17), measured here
    assert 3.5 < card.metric("validation_loss_nats_per_char").value < 4.5

    answer = served_by_the_zoo(tmp_path / "zoo", card.name)(prompt="ROMEO:", max_new_tokens=20, seed=3)
    assert answer["model"] == f"keras-shakespeare-{cell}" and answer["tokens_generated"] == 20


def test_forecasting_script_is_brought_in_and_served(tmp_path, data_dir):
    arguments = forecasting.main(["--out", str(tmp_path / "run"), "--cell", "gru", "--epochs", "1", "--hidden", "4",
                                  "--threads", "1"])
    card = brought(tmp_path, arguments, data_dir)
    assert card.inputs[0].shape == ["batch", 60, 3] and card.outputs[0].shape == ["batch", 5, 3]
    assert card.metric("pinball_loss").examples == 10760  # measured on the zoo's test split

    closes = list(100 * np.exp(np.cumsum(np.random.default_rng(0).normal(0, 0.01, 80))))
    forecast = served_by_the_zoo(tmp_path / "zoo", card.name)(closes, horizon=5)["forecast"]
    assert len(forecast) == 5 and all(day["p10"] <= day["p50"] <= day["p90"] for day in forecast)
