"""Torch modules rebuilt from the shipped ONNX files (for torch-eager baselines) compute what the files do."""
import numpy as np
import pytest
import torch

from training.from_onnx import torch_model
from zoo import get_spec, list_models
from zoo.artifacts import ARTIFACTS_DIR, create_session
from zoo.cards import ModelCard
from zoo.checks import example_inputs


# Single-graph models: a translator's two graphs (encoder, decoder step) are checked against torch at export.
@pytest.mark.parametrize("name", [n for n in list_models() if get_spec(n).quantized_from is None
                                  and get_spec(n).task != "translation"])
def test_the_rebuilt_torch_module_matches_onnxruntime(name):
    directory = ARTIFACTS_DIR / name
    card = ModelCard.load(directory)
    feeds = example_inputs(card, batch=3, steps=11, rng=np.random.default_rng(0))  # unlike the export's (2, 7)
    expected = create_session((directory / "model.onnx").read_bytes(), ["CPUExecutionProvider"]).run(None, feeds)
    with torch.no_grad():
        got = torch_model(directory)(*(torch.from_numpy(feeds[spec.name]) for spec in card.inputs))
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(expected)
    for value, reference in zip(got, expected):
        np.testing.assert_allclose(value.numpy(), reference, atol=2e-5, rtol=1e-4)


def test_a_file_from_another_architecture_is_refused(tmp_path):
    import shutil

    shutil.copytree(ARTIFACTS_DIR / "stock-gru", tmp_path / "stock-gru")
    with pytest.raises(ValueError, match="initializers"):
        torch_model(tmp_path / "stock-gru", source="stock-lstm")
