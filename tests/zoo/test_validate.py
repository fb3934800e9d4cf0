"""zoo.validate: the checks every artifact passes before it is served, each shown to catch what it is for."""
import dataclasses
import shutil

import pytest

from zoo import checks
from zoo import validate as validator
from zoo.artifacts import ARTIFACTS_DIR, ArtifactError
from zoo.cards import ModelCard, sha256_of
from zoo.runtime import load_zoo


@pytest.fixture
def stock(tmp_path):
    """A copy of a shipped model to break."""
    folder = tmp_path / "stock-gru"
    shutil.copytree(ARTIFACTS_DIR / "stock-gru", folder)
    return folder


def test_every_shipped_model_passes(capsys):
    folders = [str(p) for p in sorted(ARTIFACTS_DIR.iterdir()) if (p / "card.json").exists()]
    assert validator.main(folders) == 0
    assert capsys.readouterr().out.count("ok ") == len(folders)


def resave(folder, change):
    card = ModelCard.load(folder)
    change(card)
    card.save(folder)


def test_missing_parity_vectors_are_refused(stock):
    resave(stock, lambda card: setattr(card.export, "parity_vectors", None))
    with pytest.raises(checks.ValidationError, match="no export.parity_vectors"):
        validator.validate(stock)


def test_outputs_off_by_more_than_the_tolerance_are_refused(stock):
    inputs, outputs = checks.load_parity_vectors((stock / "parity.npz").read_bytes())
    outputs["quantiles"] = outputs["quantiles"] + 1e-3  # what a slightly different model would give
    checks.save_parity_vectors(stock / "parity.npz", inputs, outputs)
    resave(stock, lambda card: setattr(card.export.parity_vectors, "sha256", sha256_of(stock / "parity.npz")))
    with pytest.raises(checks.ValidationError, match=r"differs from torch .* by 0.001.*tolerance 1e-05"):
        validator.validate(stock)


def test_a_tampered_parity_file_is_refused_by_its_checksum(stock):
    inputs, outputs = checks.load_parity_vectors((stock / "parity.npz").read_bytes())
    checks.save_parity_vectors(stock / "parity.npz", inputs, {k: v + 1 for k, v in outputs.items()})
    with pytest.raises(ArtifactError, match="sha256"):
        validator.validate(stock)


def test_a_card_that_renames_an_output_fails_the_io_check(stock):
    resave(stock, lambda card: setattr(card.outputs[0], "name", "quantile"))
    with pytest.raises(checks.ValidationError, match="quantile"):
        validator.validate(stock)


def test_a_graph_dimension_must_match_the_card(stock):
    resave(stock, lambda card: card.outputs[0].shape.__setitem__(1, "horizons"))  # the graph fixes it at 5
    with pytest.raises(checks.ValidationError, match="expected"):
        validator.validate(stock)


def test_the_task_contract_names_what_the_endpoint_needs(stock):
    card = ModelCard.load(stock)
    card.inputs[0] = dataclasses.replace(card.inputs[0], dtype="float64")
    with pytest.raises(checks.ValidationError, match="features is float64, expected float32"):
        validator.check_contract(card)
    card = ModelCard.load(ARTIFACTS_DIR / "shakespeare-lstm")
    card.inputs = card.inputs[:2]  # an LSTM without its cell state
    with pytest.raises(checks.ValidationError, match=r"expected \['tokens', 'h0', 'c0'\]"):
        validator.check_contract(card)


def test_the_service_lists_a_model_that_fails_validation_as_broken(stock, capsys):
    # torch and onnxruntime differ by a few 1e-7 on this model (the card records it), so 1e-12 must fail
    assert ModelCard.load(stock).export.parity_vectors.max_abs_diff > 1e-9
    resave(stock, lambda card: setattr(card.export.parity_vectors, "tolerance", 1e-12))
    zoo = load_zoo(stock.parent)
    assert "stock-gru" in zoo.broken and "tolerance 1e-12" in zoo.broken["stock-gru"]
    assert validator.main([str(stock)]) == 1 and "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("quantiles", [None, 0.5])
def test_incomplete_preprocessing_is_refused_with_its_reason_before_the_contract(stock, quantiles):
    """A card's own preprocessing is read first: a malformed field is a refusal that names it, never a crash."""
    resave(stock, lambda card: card.preprocessing.statistics.__setitem__("quantiles", quantiles))
    zoo = load_zoo(stock.parent)
    assert "preprocessing.statistics is incomplete" in zoo.broken["stock-gru"]
    with pytest.raises(checks.ValidationError, match="quantiles should be a list"):
        validator.check_contract(ModelCard.load(stock))
