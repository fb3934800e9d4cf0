"""Vitals training: the metrics, ONNX parity and the state carried hour by hour through the exported graph,
summary features for the baseline, and a tiny training run on real set-a records measured on set-b."""
import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

import training.vitals.train as train_vitals
from tests.helpers import VITALS_RECORD as RECORD
from training.vitals.evaluation import auroc_intervals, logistic_regression, summary_features
from training.vitals.export import export_onnx
from zoo import create_model
from zoo.artifacts import create_session
from zoo.cards import ModelCard
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import (
    FEATURE_COUNT,
    HOURS,
    SERIES,
    VITALS,
    features,
    parse_observations,
    parse_record_text,
)


def test_the_interval_of_a_difference_is_paired_and_says_when_there_is_none():
    rng = np.random.default_rng(0)
    died = rng.integers(0, 2, 600)
    noise = rng.normal(0, 1, 600)
    sharp, blunt = died + 0.5 * noise, died + 2.0 * rng.normal(0, 1, 600)  # the first ranks deaths far better
    (low, high), (apart_low, apart_high) = auroc_intervals(sharp, blunt, died)
    assert low < roc_auc_score(died, sharp) < high and 0 < apart_low < apart_high
    (_, _), same = auroc_intervals(sharp, sharp, died)
    assert same == (0.0, 0.0)  # the same stays resampled for both: no difference, not two overlapping intervals


def test_the_logistic_regression_chooses_its_penalty_by_cross_validation():
    rng = np.random.default_rng(1)
    inputs = rng.normal(0, 1, (400, 5))
    labels = (inputs[:, 0] + 0.3 * rng.normal(0, 1, 400) > 0).astype(int)
    fitted = logistic_regression(inputs, labels)
    assert len(fitted.Cs_) == 10 and roc_auc_score(labels, fitted.predict_proba(inputs)[:, 1]) > 0.95
    assert abs(fitted.coef_[0, 0]) > 5 * np.abs(fitted.coef_[0, 1:]).max()  # the informative feature


def exported_monitor(cell: str, tmp_path):
    """A tiny untrained monitor (fixed seed) and an onnxruntime session of its export."""
    torch.manual_seed(0)
    model = create_model(f"test-vitals-{cell}").eval()
    export_onnx(model, tmp_path / "model.onnx")
    return model, create_session((tmp_path / "model.onnx").read_bytes(), ["CPUExecutionProvider"])


def zero_state(session, batch: int) -> dict[str, np.ndarray]:
    """The graph's state inputs, zeros: the start of a stay."""
    return {spec.name: np.zeros((spec.shape[0], batch, spec.shape[2]), dtype=np.float32)
            for spec in session.get_inputs()[1:]}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_risk_is_a_probability_per_hour_and_onnx_matches_torch_at_other_shapes(cell, tmp_path):
    model, session = exported_monitor(cell, tmp_path)
    for batch, hours in ((1, 1), (3, 48), (11, 17)):
        inputs = np.random.default_rng(hours).normal(size=(batch, hours, FEATURE_COUNT)).astype(np.float32)
        risk, change, *state = session.run(None, {"features": inputs, **zero_state(session, batch)})
        assert risk.shape == (batch, hours) and change.shape == (batch, hours, len(VITALS))
        assert ((risk > 0) & (risk < 1)).all()
        with torch.no_grad():
            torch_risk, torch_change, *torch_state = model(torch.from_numpy(inputs))
        np.testing.assert_allclose(risk, torch_risk.numpy(), atol=1e-5)
        np.testing.assert_allclose(change, torch_change.numpy(), atol=1e-5)
        for onnx_state, expected in zip(state, torch_state, strict=True):
            np.testing.assert_allclose(onnx_state, expected.numpy(), atol=1e-5)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_carrying_the_state_hour_by_hour_equals_one_run_over_the_stay(cell, tmp_path):
    """What sessions rely on: the graph's state out, fed back in, continues the stay exactly."""
    _, session = exported_monitor(cell, tmp_path)
    zeros = zero_state(session, 2)
    names, state = list(zeros), list(zeros.values())
    inputs = np.random.default_rng(1).normal(size=(2, 20, FEATURE_COUNT)).astype(np.float32)
    whole_risk, whole_change, *_ = session.run(None, {"features": inputs, **zeros})
    risks, changes = [], []
    for start, stop in ((0, 1), (1, 4), (4, 5), (5, 20)):
        risk, change, *state = session.run(None, {"features": inputs[:, start:stop], **dict(zip(names, state))})
        risks.append(risk)
        changes.append(change)
    np.testing.assert_allclose(np.concatenate(risks, axis=1), whole_risk, atol=1e-5)
    np.testing.assert_allclose(np.concatenate(changes, axis=1), whole_change, atol=1e-5)


def test_summary_features_flag_missing_variables(vitals_statistics):
    record = parse_observations([("00:00", "Age", 60), ("00:10", "HR", 80), ("03:10", "HR", 100)])
    summary = summary_features(record, vitals_statistics)
    hr = SERIES.index("HR") * 6
    assert summary[hr + 5] == 0.0 and summary[SERIES.index("Temp") * 6 + 5] == 1.0


def test_tiny_training_run_exports_a_card_measured_on_set_b(tmp_path, data_dir):
    train_vitals.main(["--model", "test-vitals-gru", "--epochs", "1", "--forecast-epochs", "1", "--limit-stays", "300",
                       "--threads", "1", "--data-dir", str(data_dir), "--checkpoint-dir", str(tmp_path / "checkpoints"),
                       "--artifacts-dir", str(tmp_path / "artifacts")])
    directory = tmp_path / "artifacts" / "test-vitals-gru"
    card = ModelCard.load(directory)
    auroc = card.metric("mortality_auroc")
    assert auroc.examples == 4000 and 0 <= auroc.value <= 1
    assert card.metric("mortality_auroc_vs_saps1").baseline_value == pytest.approx(0.671, abs=0.002)
    assert {f"next_hour_mae_{v}" for v in VITALS} <= {m.name for m in card.metrics}
    assert "not a medical device" in card.intended_use.lower()
    assert (directory / "calibration.png").read_bytes()[:4] == b"\x89PNG"
    predictor = VitalsPredictor(directory)
    record = parse_record_text(RECORD)
    risk, change = predictor.assess(features(record, predictor.statistics)[None])
    assert risk.shape == (1, HOURS) and predictor.next_hour(record, change[0, -1]).shape == (len(VITALS),)
