"""A real `bentoml serve` process (started from bentofile.yaml) spoken to over HTTP."""
import asyncio
import json
import re
import urllib.error
import urllib.request

import aiohttp
import numpy as np
import pytest

from zoo import list_models
from zoo.artifacts import ARTIFACTS_DIR
from zoo.tasks.sentiment.predictor import SentimentPredictor

pytestmark = pytest.mark.http


def post(url: str, body) -> tuple[int, dict | list]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.read().decode()


def test_readyz_and_models(server):
    assert get(f"{server}/readyz")[0] == 200
    status, body = get(f"{server}/models")
    listing = json.loads(body)
    assert status == 200 and listing["broken"] == {}
    cards = {card["name"]: card for card in listing["models"]}
    assert sorted(cards) == list_models()
    for card in cards.values():
        assert re.fullmatch(r"[0-9a-f]{64}", card["export"]["sha256"])
        assert card["metrics"][0]["baseline"] and card["inputs"][0]["name"] in ("token_ids", "tokens", "features")


def test_sentiment_answers_in_order_and_matches_the_model_run_directly(server):
    texts = ["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate clichés", "Not bad at all!"]
    for model in list_models("sentiment"):
        status, body = post(f"{server}/sentiment", {"texts": texts, "model": model})
        assert status == 200 and body["model"] == model
        expected = SentimentPredictor(ARTIFACTS_DIR / model).probabilities(texts)[:, 1]
        assert [p["positive"] for p in body["predictions"]] == pytest.approx(expected.tolist(), abs=1e-6)
        assert [p["label"] for p in body["predictions"]][:2] == ["positive", "negative"]


def test_model_is_optional(server):
    status, body = post(f"{server}/sentiment", {"texts": ["wonderful"]})
    assert status == 200 and body["model"] in list_models("sentiment")


@pytest.mark.parametrize("body, status, message", [
    ({"texts": []}, 400, "at least 1 item"),
    ({"texts": ["ok"] * 65}, 400, "at most 64 items"),
    ({"texts": ["x" * 1001]}, 400, "at most 1000 characters"),
    ({"texts": ["fine", 42]}, 400, "valid string"),
    ({"texts": "just one string"}, 400, "valid array"),
    ({"texts": [""]}, 400, "at least 1 character"),
    ({"texts": ["   "]}, 400, "has no words"),
    ({"model": "sst2-lstm"}, 400, "Field required"),
    ({"texts": ["ok"], "model": "sst2-bert"}, 404, "unknown model .sst2-bert.; sentiment models: sst2-gru, sst2-lstm, sst2-lstm-int8, sst2-rnn"),
    ({"texts": ["ok"], "model": 7}, 400, "valid string"),
    (b"{not json", 400, "Invalid JSON"),
])
def test_bad_input_gets_a_4xx_that_says_what_is_allowed(server, body, status, message):
    got_status, got_body = post(f"{server}/sentiment", body)
    assert got_status == status
    assert re.search(message, json.dumps(got_body)), got_body


def test_openapi_shows_an_example_for_the_endpoint(server):
    schema = json.loads(get(f"{server}/docs.json")[1])
    text = json.dumps(schema["paths"]["/sentiment"]) + json.dumps(schema.get("components", {}))
    assert "a gorgeous, witty, seductive movie." in text and "sst2-lstm" in text


def merged_rows(metrics: str, task: str) -> tuple[float, float]:
    """(rows, onnxruntime calls) of a task so far, from the service's batch-size histogram."""
    total = count = 0.0
    for line in metrics.splitlines():
        if line.startswith("rnnzoo_batch_size_sum") and f'task="{task}"' in line:
            total += float(line.rsplit(" ", 1)[1])
        if line.startswith("rnnzoo_batch_size_count") and f'task="{task}"' in line:
            count += float(line.rsplit(" ", 1)[1])
    return total, count


def test_concurrent_requests_are_merged_into_batches(server):
    """32 clients at once: the batch-size histogram must average more than 4 texts per onnxruntime call."""
    before = merged_rows(get(f"{server}/metrics")[1], "sentiment")

    async def client(session, index):
        statuses = []
        for step in range(12):
            async with session.post(f"{server}/sentiment", json={"texts": [f"review {index}.{step}: quite good"]}) as r:
                statuses.append(r.status)
        return statuses

    async def load():
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(*(client(session, i) for i in range(32)))

    statuses = [s for client_statuses in asyncio.run(load()) for s in client_statuses]
    assert statuses == [200] * 32 * 12
    after = merged_rows(get(f"{server}/metrics")[1], "sentiment")
    texts, batches = after[0] - before[0], after[1] - before[1]
    assert texts == 32 * 12
    assert texts / batches > 4, f"mean batch {texts / batches:.2f} over {batches:.0f} batches"


# --- stock forecasting --------------------------------------------------------------------------------
def closes(count: int, seed: int = 0) -> list[float]:
    """A made-up daily price series, oldest first."""
    rng = np.random.default_rng(seed)
    return [round(40 * float(x), 4) for x in np.exp(rng.normal(0, 0.015, count).cumsum())]


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


@pytest.mark.parametrize("body, status, message", [
    ({"closes": closes(60)}, 400, "needs at least 61 daily closes"),
    ({"closes": closes(10_001)}, 400, "at most 10000"),
    ({"closes": closes(61)[:-1] + [0.0]}, 400, "closes[60] is 0.0; every close must be a finite price > 0"),
    ({"closes": [-3.0] + closes(61)}, 400, "closes[0] is -3.0"),
    ({"closes": closes(61), "horizon": 0}, 400, "greater than or equal to 1"),
    ({"closes": closes(61), "horizon": 6}, 400, "less than or equal to 5"),
    ({"closes": closes(61), "model": "stock-transformer"}, 404, "forecasting models: stock-gru"),
    ({"closes": closes(61), "model": "sst2-lstm"}, 400, "is a sentiment model"),
    ({"closes": "100,101"}, 400, "closes: Input should be a valid array"),
    ({"horizon": 3}, 400, "closes"),
])
def test_bad_stock_requests_get_a_400_that_says_what_is_allowed(server, body, status, message):
    got, answer = post(f"{server}/stock_forecast", body)
    assert got == status and message in json.dumps(answer), answer


def test_non_finite_closes_are_refused(server):
    series = json.dumps(closes(70))
    for literal in ("NaN", "Infinity", "-Infinity"):
        payload = ('{"closes": ' + series[:-1] + ", " + literal + "]}").encode()
        status, answer = post(f"{server}/stock_forecast", payload)
        assert status == 400 and "every close must be a finite price > 0" in json.dumps(answer), answer


def test_concurrent_stock_forecasts_are_merged_into_batches(server):
    before = merged_rows(get(f"{server}/metrics")[1], "forecasting")
    series = closes(61)

    async def client(session, index):
        statuses = []
        for _ in range(8):
            async with session.post(f"{server}/stock_forecast", json={"closes": series, "model": "stock-gru"}) as r:
                statuses.append(r.status)
        return statuses

    async def load():
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(*(client(session, i) for i in range(32)))

    statuses = [s for client_statuses in asyncio.run(load()) for s in client_statuses]
    assert statuses == [200] * 32 * 8
    after = merged_rows(get(f"{server}/metrics")[1], "forecasting")
    windows, batches = after[0] - before[0], after[1] - before[1]
    assert windows == 32 * 8 and windows / batches > 2, f"mean batch {windows / batches:.2f}"


# --- ICU vitals -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def set_b_records(data_dir):
    from training.vitals.data import load_physionet

    return [stay.record_text for stay in load_physionet("set-b", data_dir)[:40]]


def rows_of(record_text: str) -> list[dict]:
    return [{"time": t, "parameter": p, "value": float(v)}
            for t, p, v in (line.split(",") for line in record_text.strip().splitlines()[1:])]


def test_vitals_reads_real_set_b_records_as_text_or_rows(server, set_b_records):
    for model in list_models("vitals"):
        text = set_b_records[0]
        status, from_text = post(f"{server}/vitals", {"record": text, "model": model})
        assert status == 200, from_text
        status, from_rows = post(f"{server}/vitals", {"observations": rows_of(text), "model": model})
        assert status == 200 and from_rows == from_text
        assert from_text["model"] == model and 1 <= from_text["hours_observed"] <= 48
        assert len(from_text["risk_by_hour"]) == from_text["hours_observed"]
        assert from_text["mortality_risk"] == from_text["risk_by_hour"][-1]
        assert all(0 < risk < 1 for risk in from_text["risk_by_hour"])
        assert set(from_text["next_hour"]) == {"HR", "MAP", "SaO2", "RespRate", "Temp"}
        assert 20 < from_text["next_hour"]["HR"] < 250 and 30 < from_text["next_hour"]["Temp"] < 43


def test_the_risk_updates_as_hours_arrive(server, set_b_records):
    rows = rows_of(set_b_records[1])
    early = [row for row in rows if row["time"] <= "06:00"]
    status, first_six = post(f"{server}/vitals", {"observations": early})
    status_all, whole = post(f"{server}/vitals", {"observations": rows})
    assert status == status_all == 200
    assert first_six["hours_observed"] <= 7 < whole["hours_observed"]
    hours = first_six["hours_observed"]
    assert whole["risk_by_hour"][: hours - 1] == pytest.approx(first_six["risk_by_hour"][: hours - 1], abs=1e-6)


def test_implausible_values_are_clipped_and_reported(server):
    rows = [{"time": "00:00", "parameter": "Age", "value": 70}, {"time": "00:10", "parameter": "HR", "value": 80},
            {"time": "01:10", "parameter": "Temp", "value": -17.8}]
    status, body = post(f"{server}/vitals", {"observations": rows})
    assert status == 200
    assert body["clipped"] == [{"time": "01:10", "parameter": "Temp", "value": -17.8, "clipped_to": 25.0}]


@pytest.mark.parametrize("body, message", [
    ({"observations": [{"time": "00:07", "parameter": "Pulse", "value": 70}]}, "unknown parameter 'Pulse'; valid parameters:"),
    ({"observations": [{"time": "0007", "parameter": "HR", "value": 70}]}, "time '0007' is malformed"),
    ({"observations": [{"time": "49:00", "parameter": "HR", "value": 70}]}, "past 48:00"),
    ({"observations": []}, "no observations"),
    ({"observations": [{"time": "00:00", "parameter": "Age", "value": 70}]}, "no time series observations"),
    ({}, "send exactly one of `observations`"),
    ({"record": "Time,Parameter,Value\n00:07,HR,70\n", "observations": []}, "send exactly one of"),
    ({"record": "Time,Parameter,Value\n00:07;HR;70\n"}, "expected 'Time,Parameter,Value'"),
    ({"observations": [{"time": "00:07", "parameter": "HR", "value": "fast"}]}, "valid number"),
    ({"observations": [{"time": "00:07", "parameter": "HR", "value": 70}], "model": "stock-gru"}, "is a forecasting model"),
])
def test_bad_vitals_requests_get_a_400_that_says_what_is_wrong(server, body, message):
    status, answer = post(f"{server}/vitals", body)
    assert status == 400 and message in json.dumps(answer), answer


def test_non_finite_vitals_are_refused(server):
    payload = b'{"observations": [{"time": "00:07", "parameter": "HR", "value": NaN}]}'
    status, answer = post(f"{server}/vitals", payload)
    assert status == 400 and "not finite" in json.dumps(answer), answer


def test_concurrent_vitals_requests_are_merged_into_batches(server, set_b_records):
    before = merged_rows(get(f"{server}/metrics")[1], "vitals")

    async def client(session, index):
        statuses = []
        for step in range(4):
            record = set_b_records[(index + step) % len(set_b_records)]
            async with session.post(f"{server}/vitals", json={"record": record}) as response:
                statuses.append(response.status)
        return statuses

    async def load():
        async with aiohttp.ClientSession() as session:
            return await asyncio.gather(*(client(session, i) for i in range(24)))

    statuses = [s for client_statuses in asyncio.run(load()) for s in client_statuses]
    assert statuses == [200] * 24 * 4
    after = merged_rows(get(f"{server}/metrics")[1], "vitals")
    stays, calls = after[0] - before[0], after[1] - before[1]
    assert stays == 24 * 4 and stays / calls > 1.5, f"mean batch {stays / calls:.2f}"


def test_an_oversized_body_gets_413_before_it_is_sent(server):
    """The declared length alone is enough: the server answers without reading a byte of the body."""
    import socket

    host, port = server.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"POST /vitals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 5000000\r\n\r\n")
        answer = b""
        while b"bytes" not in answer.split(b"\r\n\r\n", 1)[-1]:  # headers and body may come apart
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413") and "the limit is 4194304 bytes" in answer, answer[:300]


def test_a_body_that_is_not_json_gets_415(server):
    request = urllib.request.Request(f"{server}/sentiment", data=b"texts=good", headers={"content-type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=30)
    assert error.value.code == 415 and "send application/json" in error.value.read().decode()


def test_a_model_named_with_its_version(server):
    assert post(f"{server}/sentiment", {"texts": ["fine"], "model": "sst2-lstm@1.0.0"})[1]["model"] == "sst2-lstm"
    status, answer = post(f"{server}/stock_forecast", {"closes": [40.0 + i for i in range(61)], "model": "stock-gru@0.9"})
    assert status == 404 and "served at version '1.0.0'" in answer["error"]
