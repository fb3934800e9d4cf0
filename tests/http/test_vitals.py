"""/vitals on a real `bentoml serve` with real set-b records: as text or rows, the risk as hours arrive, and
concurrent requests merged into batches."""

import pytest

from tests.helpers import get, merged_rows, observations, post, post_concurrently
from zoo import list_models

pytestmark = pytest.mark.http


@pytest.fixture(scope="module")
def set_b_records(data_dir):
    from training.vitals.data import load_physionet

    return [stay.record_text for stay in load_physionet("set-b", data_dir)[:40]]


def test_vitals_reads_real_set_b_records_as_text_or_rows(server, set_b_records):
    for model in list_models("vitals"):
        text = set_b_records[0]
        status, from_text = post(f"{server}/vitals", {"record": text, "model": model})
        assert status == 200, from_text
        status, from_rows = post(f"{server}/vitals", {"observations": observations(text), "model": model})
        assert status == 200 and from_rows == from_text
        assert from_text["model"] == model and 1 <= from_text["hours_observed"] <= 48
        assert len(from_text["risk_by_hour"]) == from_text["hours_observed"]
        assert from_text["mortality_risk"] == from_text["risk_by_hour"][-1]
        assert all(0 < risk < 1 for risk in from_text["risk_by_hour"])
        assert set(from_text["next_hour"]) == {"HR", "MAP", "SaO2", "RespRate", "Temp"}
        assert 20 < from_text["next_hour"]["HR"] < 250 and 30 < from_text["next_hour"]["Temp"] < 43


def test_the_risk_updates_as_hours_arrive(server, set_b_records):
    rows = observations(set_b_records[1])
    early = [row for row in rows if row["time"] <= "06:00"]
    status, first_six = post(f"{server}/vitals", {"observations": early})
    status_all, whole = post(f"{server}/vitals", {"observations": rows})
    assert status == status_all == 200
    assert first_six["hours_observed"] <= 7 < whole["hours_observed"]
    hours = first_six["hours_observed"]
    assert whole["risk_by_hour"][: hours - 1] == pytest.approx(first_six["risk_by_hour"][: hours - 1], abs=1e-6)


def test_concurrent_vitals_requests_are_merged_into_batches(server, set_b_records):
    before = merged_rows(get(f"{server}/metrics")[1], "vitals")

    statuses = post_concurrently(f"{server}/vitals", 24, 4,
                                 lambda index, step: {"record": set_b_records[(index + step) % len(set_b_records)]})
    assert statuses == [200] * 24 * 4
    after = merged_rows(get(f"{server}/metrics")[1], "vitals")
    stays, calls = after[0] - before[0], after[1] - before[1]
    assert stays == 24 * 4 and stays / calls > 1.5, f"mean batch {stays / calls:.2f}"
