"""ICU vitals without a server: record parsing and its errors, clipping, hourly features, the model,
ONNX parity, the metrics and a tiny training run on real set-a records."""
import math

import numpy as np
import pytest
import torch

import training.vitals.train as train_vitals
from training.vitals.data import load_physionet
from training.vitals.evaluation import average_precision, summary_features
from training.vitals.export import export_onnx
from zoo import create_model
from zoo.cards import ModelCard
from zoo.artifacts import create_session
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import carried_forward, features, hourly, parse_observations, parse_record_text, vital_targets, FEATURE_COUNT, HOURS, PARAMETERS, SERIES, VITALS, VitalsInputError, VitalsStatistics

RECORD = """Time,Parameter,Value
00:00,RecordID,132539
00:00,Age,54
00:00,Gender,0
00:00,Height,-1
00:00,ICUType,4
00:00,Weight,-1
00:07,HR,73
00:07,NIMAP,92.33
00:37,HR,77
00:37,Temp,-17.8
02:37,HR,62
02:37,MAP,80
48:00,HR,70
"""


@pytest.fixture(scope="module")
def set_a(data_dir):
    stays = load_physionet("set-a", data_dir)
    return stays, [parse_record_text(s.record_text) for s in stays[:300]]


@pytest.fixture(scope="module")
def statistics(set_a):
    return VitalsStatistics.fit(set_a[1])


def test_a_record_file_parses_with_descriptors_clips_and_hours():
    record = parse_record_text(RECORD)
    assert record.descriptors == {"Age": 54, "Gender": 0, "Height": -1.0, "ICUType": 4, "Weight": -1.0}
    assert [(c.parameter, c.value, c.clipped_to) for c in record.clipped] == [("Temp", -17.8, 25)]
    assert record.hours_observed == HOURS  # 48:00 is the last minute of the last hour
    values = hourly(record)
    assert values[0, SERIES.index("HR")] == pytest.approx(75.0)  # two readings in hour 0: their mean
    assert math.isnan(values[1, SERIES.index("HR")]) and values[2, SERIES.index("HR")] == 62
    assert values[47, SERIES.index("HR")] == 70
    same = parse_observations([tuple(line.split(",")) for line in RECORD.strip().splitlines()[1:]])
    assert same.rows == record.rows and same.descriptors == record.descriptors


@pytest.mark.parametrize("rows, message", [
    ([], "no observations"),
    ([("00:07", "HeartRate", 70)], "unknown parameter 'HeartRate'; valid parameters: "),
    ([("7:5", "HR", 70)], "time '7:5' is malformed; expected HH:MM from 00:00 to 48:00"),
    ([("ab:cd", "HR", 70)], "malformed"),
    ([("²:00", "HR", 70)], "malformed"),
    ([("00:61", "HR", 70)], "malformed"),
    ([("48:01", "HR", 70)], "past 48:00"),
    ([("00:07", "HR", float("nan"))], "value nan of HR is not finite"),
    ([("00:07", "HR", float("inf"))], "not finite"),
    ([("00:07", "HR", "fast")], "'fast' of HR is not a number"),
])
def test_bad_observations_say_what_is_wrong(rows, message):
    with pytest.raises(VitalsInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_observations(rows)


def test_every_parameter_of_the_challenge_is_accepted(set_a):
    seen = {line.split(",")[1] for stay in set_a[0][:500] for line in stay.record_text.splitlines()[1:]}
    assert seen <= set(PARAMETERS)


def test_features_carry_forward_mask_and_count_hours_since_seen(statistics):
    record = parse_observations([("00:00", "Age", 60), ("00:10", "HR", 80), ("03:10", "HR", 100)])
    x = features(record, statistics)
    assert x.shape == (HOURS, FEATURE_COUNT) and x.dtype == np.float32
    v, hr = len(SERIES), SERIES.index("HR")
    z = lambda value: (value - statistics.mean[hr]) / statistics.std[hr]  # noqa: E731
    assert x[:3, hr].tolist() == pytest.approx([z(80)] * 3, abs=1e-5)  # carried forward
    assert x[3, hr] == pytest.approx(z(100), abs=1e-5)
    assert x[:5, v + hr].tolist() == [1, 0, 0, 1, 0]  # observed mask
    assert (x[:5, 2 * v + hr] * HOURS).tolist() == pytest.approx([0, 1, 2, 0, 1])  # hours since seen
    assert features(record, statistics, hours=4).shape == (4, FEATURE_COUNT)


def test_vital_targets_use_invasive_map_else_non_invasive():
    record = parse_record_text(RECORD)
    targets = vital_targets(record)
    assert targets[0, VITALS.index("MAP")] == pytest.approx(92.33) and targets[2, VITALS.index("MAP")] == 80
    carried = carried_forward(targets)
    assert carried[1, VITALS.index("HR")] == pytest.approx(75.0) and math.isnan(carried[0, VITALS.index("SaO2")])


def test_metrics_match_their_definitions():
    labels = np.array([0, 0, 1, 1, 0, 1])
    assert train_vitals.auroc(np.array([0.1, 0.2, 0.8, 0.9, 0.3, 0.7]), labels) == 1.0
    assert train_vitals.auroc(np.array([0.5] * 6), labels) == 0.5  # ties count half
    assert train_vitals.auroc(np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9]), np.array([0, 0, 1, 1, 0, 1])) == pytest.approx(8 / 9)
    assert average_precision(np.array([0.9, 0.8, 0.7]), np.array([1, 0, 1])) == pytest.approx((1 + 2 / 3) / 2)


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


def test_a_stays_outputs_do_not_depend_on_padding_after_it(tmp_path):
    """The worker right-pads stays of different lengths into one batch."""
    torch.manual_seed(0)
    model = create_model("test-vitals-lstm").eval()
    inputs = torch.randn(1, 10, FEATURE_COUNT)
    padded = torch.cat([inputs, torch.zeros(1, 38, FEATURE_COUNT)], dim=1)
    with torch.no_grad():
        alone, padded_out = model(inputs)[:2], model(padded)[:2]
    torch.testing.assert_close(alone[0], padded_out[0][:, :10])
    torch.testing.assert_close(alone[1], padded_out[1][:, :10])


def test_summary_features_flag_missing_variables(statistics):
    record = parse_observations([("00:00", "Age", 60), ("00:10", "HR", 80), ("03:10", "HR", 100)])
    summary = summary_features(record, statistics)
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


def test_a_record_text_that_is_not_csv_is_refused_not_crashed():
    with pytest.raises(VitalsInputError, match="is not 'Time,Parameter,Value' CSV"):
        parse_record_text("00:07,HR," + "7" * 200_000)
    with pytest.raises(VitalsInputError, match="expected 'Time,Parameter,Value'"):
        parse_record_text("Time,Parameter,Value\n00:07;HR;70\n")
