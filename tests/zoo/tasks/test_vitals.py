"""Vitals preprocessing and model (zoo/tasks/vitals/): record parsing and its errors, clipping, hourly
features, a stay fed hour by hour (as sessions do) equal to the whole stay, padding, and property-based tests
(hypothesis) of the record parsers."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import PROPERTY_SETTINGS, record_rows
from tests.helpers import VITALS_RECORD as RECORD
from training.vitals.data import load_physionet
from zoo import create_model
from zoo.artifacts import ARTIFACTS_DIR
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import (
    FEATURE_COUNT,
    HOURS,
    LIMITS,
    PARAMETERS,
    SERIES,
    VITALS,
    StayFeatures,
    VitalsInputError,
    carried_forward,
    features,
    hourly,
    parse_observations,
    parse_record_text,
    vital_targets,
)


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
    ([("00:07", ["HR"], 70)], "unknown parameter \\['HR'\\]"),  # not a string (nor hashable): refused, no TypeError
    ([("00:07", "HR", 70), ("7:5", "HR", 71)], "time '7:5' is malformed"),  # after a good time was cached
])
def test_bad_observations_say_what_is_wrong(rows, message):
    with pytest.raises(VitalsInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_observations(rows)


def test_every_parameter_of_the_challenge_is_accepted(set_a):
    seen = {line.split(",")[1] for stay in set_a[0][:500] for line in stay.record_text.splitlines()[1:]}
    assert seen <= set(PARAMETERS)


def test_features_carry_forward_mask_and_count_hours_since_seen(vitals_statistics):
    record = parse_observations([("00:00", "Age", 60), ("00:10", "HR", 80), ("03:10", "HR", 100)])
    x = features(record, vitals_statistics)
    assert x.shape == (HOURS, FEATURE_COUNT) and x.dtype == np.float32
    v, hr = len(SERIES), SERIES.index("HR")
    z = lambda value: (value - vitals_statistics.mean[hr]) / vitals_statistics.std[hr]  # noqa: E731
    assert x[:3, hr].tolist() == pytest.approx([z(80)] * 3, abs=1e-5)  # carried forward
    assert x[3, hr] == pytest.approx(z(100), abs=1e-5)
    assert x[:5, v + hr].tolist() == [1, 0, 0, 1, 0]  # observed mask
    assert (x[:5, 2 * v + hr] * HOURS).tolist() == pytest.approx([0, 1, 2, 0, 1])  # hours since seen
    assert features(record, vitals_statistics, hours=4).shape == (4, FEATURE_COUNT)


def test_vital_targets_use_invasive_map_else_non_invasive():
    record = parse_record_text(RECORD)
    targets = vital_targets(record)
    assert targets[0, VITALS.index("MAP")] == pytest.approx(92.33) and targets[2, VITALS.index("MAP")] == 80
    carried = carried_forward(targets)
    assert carried[1, VITALS.index("HR")] == pytest.approx(75.0) and math.isnan(carried[0, VITALS.index("SaO2")])


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


def test_a_record_text_that_is_not_csv_is_refused_not_crashed():
    with pytest.raises(VitalsInputError, match="is not 'Time,Parameter,Value' CSV"):
        parse_record_text("00:07,HR," + "7" * 200_000)
    with pytest.raises(VitalsInputError, match="expected 'Time,Parameter,Value'"):
        parse_record_text("Time,Parameter,Value\n00:07;HR;70\n")


# --- hour by hour, as sessions feed a stay ---------------------------------------------------------------
@pytest.fixture(scope="module")
def monitor():
    return VitalsPredictor(ARTIFACTS_DIR / "vitals-gru", ["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def set_b(data_dir):
    return [s.record_text for s in load_physionet("set-b", data_dir)[:25]]


def vitals_in_steps(monitor: VitalsPredictor, rows: list, sizes) -> tuple[StayFeatures, list[float], np.ndarray]:
    """Feed rows in steps of the given sizes as the service does: closed hours into the state, then the
    open hour from it. Returns the stay, the risk after each hour, and the last change."""
    stay, state, risks = StayFeatures(monitor.statistics), monitor.initial_state(1), []
    start = 0
    for size in sizes:
        closed = stay.add(rows[start:start + size])
        start += size
        if len(closed):
            (risk, _), state = monitor.step(closed[None], state)
            risks.extend(risk[0].tolist())
    open_row, carried = stay.open_hour()
    (risk, change), _ = monitor.step(open_row[None], state)
    return stay, risks + [float(risk[0, 0])], monitor.expected_vitals(carried, change[0, 0])


def test_a_stay_fed_in_random_steps_gives_the_one_shot_answer(monitor, set_b):
    rng = np.random.default_rng(0)
    checked = 0
    for text in set_b:
        record = parse_record_text(text)
        if not record.rows:
            continue
        rows = record_rows(text)
        sizes = []
        while sum(sizes) < len(rows):
            sizes.append(int(rng.integers(1, 60)))
        stay, risks, next_hour = vitals_in_steps(monitor, rows, sizes)
        hours = record.hours_observed
        whole_features = features(record, monitor.statistics, hours)
        risk, change = monitor.assess(whole_features[None])
        assert stay.hours_observed == hours
        np.testing.assert_allclose(risks, risk[0], atol=1e-5)
        np.testing.assert_allclose(next_hour, monitor.next_hour(record, change[0, -1]), atol=1e-4)
        assert [(c.time, c.parameter, c.value) for c in stay.clipped] == \
               [(c.time, c.parameter, c.value) for c in record.clipped]
        checked += 1
    assert checked >= 20


def test_hour_by_hour_features_equal_the_whole_records(monitor, set_b):
    for text in set_b[:10]:
        record = parse_record_text(text)
        rows = record_rows(text)
        stay, got = StayFeatures(monitor.statistics), []
        for row in rows:  # one observation per step: the most steps a stay can take
            got.extend(stay.add([row]))
        got.append(stay.open_hour()[0][0])
        np.testing.assert_array_equal(np.array(got), features(record, monitor.statistics, record.hours_observed))


def test_a_session_refuses_closed_hours_and_late_descriptors_and_changes_nothing(monitor):
    stay = StayFeatures(monitor.statistics)
    stay.add([("00:00", "Age", 70), ("00:10", "HR", 80), ("02:05", "HR", 90)])
    before = (stay.closed, stay.rows, stay.sums.copy(), stay.descriptors.copy())
    with pytest.raises(VitalsInputError, match="hour 1, which this session has closed.*from 02:00 on"):
        stay.add([("02:30", "HR", 85), ("01:59", "HR", 85)])
    with pytest.raises(VitalsInputError, match="descriptor Age arrives after hour 1 has closed"):
        stay.add([("02:30", "Age", 71)])
    with pytest.raises(VitalsInputError, match="unknown parameter 'Pulse'"):
        stay.add([("02:30", "Pulse", 71)])
    with pytest.raises(VitalsInputError, match="past 48:00"):
        stay.add([("48:01", "HR", 71)])
    assert (stay.closed, stay.rows, stay.descriptors) == (before[0], before[1], before[3])
    np.testing.assert_array_equal(stay.sums, before[2])
    stay.add([("48:00", "HR", 71)])  # 48:00 is in the last hour, as in the one-shot features
    assert stay.hours_observed == HOURS


# --- properties (hypothesis): every input is read or refused with the module's own error -----------------
times = st.one_of(st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 48), st.integers(0, 59)),
                  st.text(max_size=8))
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6), st.text(max_size=6))
parameters = st.one_of(st.sampled_from(PARAMETERS), st.text(max_size=10))


@PROPERTY_SETTINGS
@given(st.lists(st.tuples(times, parameters, values), max_size=30))
def test_observations_are_read_or_refused_with_the_reason(rows):
    try:
        record = parse_observations(rows)
    except VitalsInputError as error:
        assert str(error)  # says what is wrong
        return
    for minute, parameter, value in record.rows:  # what was read is in range: clipped, never out of limits
        low, high = LIMITS[parameter]
        assert 0 <= minute <= 48 * 60 and low <= value <= high and math.isfinite(value)
    assert 1 <= record.hours_observed <= 48


@PROPERTY_SETTINGS
@given(st.text(max_size=400))
def test_any_record_text_is_read_or_refused_with_the_reason(text):
    try:
        parse_record_text(text)
    except VitalsInputError as error:
        assert str(error)


@PROPERTY_SETTINGS
@given(st.lists(st.tuples(st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 47), st.integers(0, 59)),
                          st.sampled_from(["HR", "NIMAP", "Temp", "Glucose", "SaO2"]),
                          st.floats(0, 300, allow_nan=False)), min_size=1, max_size=30))
def test_the_record_text_and_the_json_rows_are_read_alike(rows):
    text = "Time,Parameter,Value\n" + "\n".join(f"{t},{p},{v!r}" for t, p, v in rows)
    assert parse_record_text(text) == parse_observations(rows)
