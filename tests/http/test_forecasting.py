"""/stock_forecast on a real `bentoml serve`: ordered quantiles in price units, only the last window read,
and concurrent forecasts merged into batches."""

import pytest

from tests.helpers import closes, get, merged_rows, post, post_concurrently
from zoo import list_models

pytestmark = pytest.mark.http


def test_stock_forecast_gives_ordered_quantiles_in_price_units(server):
    series = closes(300)
    for model in list_models("forecasting"):
        status, body = post(f"{server}/stock_forecast", {"closes": series, "horizon": 5, "model": model})
        assert status == 200 and body["model"] == model and body["last_close"] == series[-1]
        assert [day["day"] for day in body["forecast"]] == [1, 2, 3, 4, 5]
        for day in body["forecast"]:
            assert 0 < day["p10"] <= day["p50"] <= day["p90"]
            assert abs(day["p50"] / series[-1] - 1) < 0.1  # a daily model's median stays near the last close
        widths = [day["p90"] - day["p10"] for day in body["forecast"]]
        assert widths[-1] > widths[0]  # five days hold more uncertainty than one
    status, body = post(f"{server}/stock_forecast", {"closes": series[-61:], "horizon": 2})
    assert status == 200 and len(body["forecast"]) == 2 and body["model"] in list_models("forecasting")


def test_stock_forecast_reads_only_the_last_window(server):
    tail = closes(61, seed=3)
    short = post(f"{server}/stock_forecast", {"closes": tail, "model": "stock-gru"})[1]
    long = post(f"{server}/stock_forecast", {"closes": closes(500, seed=9) + tail, "model": "stock-gru"})[1]
    assert short["forecast"] == long["forecast"]


def test_concurrent_stock_forecasts_are_merged_into_batches(server):
    before = merged_rows(get(f"{server}/metrics")[1], "forecasting")
    series = closes(61)

    statuses = post_concurrently(f"{server}/stock_forecast", 32, 8,
                                 lambda index, step: {"closes": series, "model": "stock-gru"})
    assert statuses == [200] * 32 * 8
    after = merged_rows(get(f"{server}/metrics")[1], "forecasting")
    windows, batches = after[0] - before[0], after[1] - before[1]
    assert windows == 32 * 8 and windows / batches > 2, f"mean batch {windows / batches:.2f}"
