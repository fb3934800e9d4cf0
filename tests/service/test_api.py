"""Request validation and error bodies, in process: the service's ASGI app with its middleware, the shipped
models, no server. Every bad input (the task endpoints, generation, sessions, the Open Inference Protocol)
gets a 4xx whose body says what was wrong and what is allowed; the OpenAPI page shows examples."""
import json
import re

import pytest

from tests.helpers import closes


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
def test_bad_sentiment_input_gets_a_4xx_that_says_what_is_allowed(api, body, status, message):
    got_status, got_body = api.post("/sentiment", body)
    assert got_status == status
    assert re.search(message, json.dumps(got_body)), got_body


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
def test_bad_stock_requests_get_a_400_that_says_what_is_allowed(api, body, status, message):
    got, answer = api.post("/stock_forecast", body)
    assert got == status and message in json.dumps(answer), answer


def test_non_finite_closes_are_refused(api):
    series = json.dumps(closes(70))
    for literal in ("NaN", "Infinity", "-Infinity"):
        payload = ('{"closes": ' + series[:-1] + ", " + literal + "]}").encode()
        status, answer = api.post("/stock_forecast", payload)
        assert status == 400 and "every close must be a finite price > 0" in json.dumps(answer), answer


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
def test_bad_vitals_requests_get_a_400_that_says_what_is_wrong(api, body, message):
    status, answer = api.post("/vitals", body)
    assert status == 400 and message in json.dumps(answer), answer


def test_non_finite_vitals_are_refused(api):
    payload = b'{"observations": [{"time": "00:07", "parameter": "HR", "value": NaN}]}'
    status, answer = api.post("/vitals", payload)
    assert status == 400 and "not finite" in json.dumps(answer), answer


def test_implausible_values_are_clipped_and_reported(api):
    rows = [{"time": "00:00", "parameter": "Age", "value": 70}, {"time": "00:10", "parameter": "HR", "value": 80},
            {"time": "01:10", "parameter": "Temp", "value": -17.8}]
    status, body = api.post("/vitals", {"observations": rows})
    assert status == 200
    assert body["clipped"] == [{"time": "01:10", "parameter": "Temp", "value": -17.8, "clipped_to": 25.0}]


def test_a_body_that_is_not_json_gets_415(api):
    status, answer = api.post("/sentiment", b"texts=good", headers={"content-type": "text/plain"})
    assert status == 415 and "send application/json" in json.dumps(answer)


@pytest.mark.parametrize("body, message", [
    ({"prompt": "ROMEO: ¿qué?"}, r"characters '¿é' are not in this model's vocabulary; allowed"),
    ({"prompt": "x", "max_new_tokens": 0}, "greater than or equal to 1"),
    ({"prompt": "x", "max_new_tokens": 2001}, "less than or equal to 2000"),
    ({"prompt": "x", "temperature": 0}, "greater than 0"),
    ({"prompt": "x", "temperature": 2.5}, "less than or equal to 2"),
    ({"prompt": "x", "top_p": 1.5}, "less than or equal to 1"),
    ({"prompt": "x", "top_k": 0}, "greater than or equal to 1"),
    ({"prompt": "x", "top_k": 2**63}, "less than or equal to 1000"),
    ({"prompt": "x" * 4001}, "at most 4000 characters"),
    ({"prompt": "x", "model": "sst2-lstm-nope"}, "unknown model"),
    ({"max_new_tokens": 5}, "Field required"),
])
@pytest.mark.parametrize("endpoint", ["generate", "generate_stream"])
def test_bad_generation_requests_get_a_400_or_404_saying_why(api, endpoint, body, message):
    status, text = api.post_text(f"/{endpoint}", body)
    assert status in (400, 404) and re.search(message, text), text


@pytest.mark.parametrize("path, body, status, message", [
    ("/v2/models/nope/infer", {"inputs": []}, 404, "unknown model 'nope'"),
    ("/v2/models/stock-gru/versions/9.9/infer", {"inputs": []}, 404, "has version '1.0.0'"),
    ("/v2/models/stock-gru/infer", {"inputs": []}, 400, "the body must be"),
    ("/v2/models/stock-gru/infer", {"inputs": [{"name": "features", "shape": [1, 2, 3], "datatype": "INT64",
                                                "data": [1] * 6}]}, 400, "must be FP32"),
    ("/v2/models/stock-gru/infer", {"inputs": [{"name": "features", "shape": [1, 2, 3], "datatype": "FP32",
                                                "data": [1.0] * 5}]}, 400, "5 values for shape [1, 2, 3]"),
    ("/v2/models/stock-gru/infer", {"inputs": [{"name": "features", "shape": [1, 6], "datatype": "FP32",
                                                "data": [1.0] * 6}]}, 400, "has 3 dimensions"),
    ("/v2/models/sst2-gru/infer", {"inputs": [{"name": "token_ids", "shape": [1, 2], "datatype": "INT64",
                                               "data": [1, 2]}]}, 400, "also needs inputs ['lengths']"),
    ("/v2/models/sst2-gru/infer", {"inputs": [{"name": "token_ids", "shape": [1, 2], "datatype": "INT64",
                                               "data": [1, 99999999]}, {"name": "lengths", "shape": [1],
                                               "datatype": "INT64", "data": [2]}]}, 400, "refused these tensors"),
])
def test_bad_tensors_get_a_4xx_that_says_why(api, path, body, status, message):
    got, text = api.post_text(path, body)
    assert got == status and message in text


def test_a_model_named_with_its_version(api):
    assert api.post("/sentiment", {"texts": ["fine"], "model": "sst2-lstm@1.0.0"})[1]["model"] == "sst2-lstm"
    status, answer = api.post("/stock_forecast", {"closes": [40.0 + i for i in range(61)], "model": "stock-gru@0.9"})
    assert status == 404 and "served at version '1.0.0'" in answer["error"]


@pytest.mark.parametrize("body, status, message", [
    ({"model": "nope"}, 404, "unknown model 'nope'; models with sessions"),
    ({"model": "sst2-gru"}, 400, "is a sentiment model, which has no sessions; models with sessions (vitals, "
                                 "text generation, music and speech): digits-gru"),
    ({"model": "stock-gru"}, 400, "is a forecasting model, which has no sessions"),
    ({}, 400, "model"),
])
def test_bad_session_starts_get_a_4xx_that_says_why(api, body, status, message):
    got, answer = api.post("/sessions/start", body)
    assert got == status and message in str(answer), answer


def test_bad_session_steps_get_a_4xx_that_says_why(api):
    def step(session_id, **fields):
        return api.post("/sessions/step", {"session_id": session_id, **fields})

    def start(model):
        return api.post("/sessions/start", {"model": model})[1]["session_id"]

    status, answer = step("no-such-session", text="a")
    assert status == 404 and "unknown or expired session" in str(answer)
    vitals_id, text_id = start("vitals-gru"), start("shakespeare-lstm")
    cases = [
        (vitals_id, {"text": "a"}, "is on the vitals model vitals-gru: send `observations` (the rows since the last "
                                   "step), not `text`"),
        (vitals_id, {}, "send `observations`"),
        (text_id, {"observations": [{"time": "00:10", "parameter": "HR", "value": 70}]},
         "is on the text model shakespeare-lstm: send `text` (may be empty), not `observations`"),
        (text_id, {"text": "a\u00e9"}, "text:"),
        (text_id, {"text": "a", "max_new_tokens": 2001}, "2000"),
        (vitals_id, {"observations": [{"time": "00:10", "parameter": "Pulse", "value": 70}]}, "unknown parameter"),
        (vitals_id, {"observations": [{"time": "49:10", "parameter": "HR", "value": 70}]}, "past 48:00"),
    ]
    for session_id, fields, message in cases:
        status, answer = step(session_id, **fields)
        assert status == 400 and message in str(answer), (fields, answer)
    assert step(vitals_id, observations=[{"time": "03:10", "parameter": "HR", "value": 70}])[0] == 200
    status, answer = step(vitals_id, observations=[{"time": "01:10", "parameter": "HR", "value": 70}])
    assert status == 400 and "which this session has closed" in str(answer)
    assert api.post("/sessions/end", {"session_id": vitals_id})[0] == 200
    status, answer = step(vitals_id, observations=[{"time": "03:20", "parameter": "HR", "value": 70}])
    assert status == 404 and "start a new one" in str(answer)
    assert api.post("/sessions/end", {"session_id": vitals_id})[0] == 404


def test_a_session_step_answers_in_its_tasks_field_only(api):
    session_id = api.post("/sessions/start", {"model": "vitals-gru"})[1]["session_id"]
    status, answer = api.post("/sessions/step", {"session_id": session_id, "observations": [
        {"time": "00:07", "parameter": "HR", "value": 70}]})
    assert status == 200 and answer["generation"] is None and answer["vitals"]["hours_observed"] == 1


def test_openapi_shows_an_example_for_the_endpoint(api):
    schema = json.loads(api.get("/docs.json")[1])
    text = json.dumps(schema["paths"]["/sentiment"]) + json.dumps(schema.get("components", {}))
    assert "a gorgeous, witty, seductive movie." in text and "sst2-lstm" in text


def test_the_openapi_page_documents_each_tasks_session_fields(api):
    schema = json.loads(api.get("/docs.json")[1])
    step = schema["components"]["schemas"]["step_session__Input"]
    assert list(step["properties"]) == ["session_id", "step_id", "observations", "text", "max_new_tokens", "temperature",
                                        "top_k", "top_p", "seed", "frames", "steps", "audio", "sample_rate"] and \
        step["required"] == ["session_id"]
    assert "not applied twice" in json.dumps(step["properties"]["step_id"])
    answer = schema["components"]["schemas"]["SessionStepResponseIODescriptor"]["properties"]
    assert list(answer) == ["session_id", "model", "vitals", "generation", "music", "speech"]
    assert "a gorgeous, witty, seductive movie." in json.dumps(schema["paths"]["/sentiment"]) + json.dumps(
        schema.get("components", {}))


def binary_request(header: dict, tensors: bytes, length: int | None = None) -> tuple[bytes, dict]:
    data = json.dumps(header).encode()
    return data + tensors, {"Inference-Header-Content-Length": str(len(data) if length is None else length)}


@pytest.mark.parametrize("header, tensors, length, message", [
    ({"inputs": [{"name": "features", "shape": [1, 60, 3], "datatype": "FP32", "parameters": {"binary_data_size": 8}}]},
     b"\0" * 8, None, "binary_data_size 8 is not 180 FP32 values (720 bytes)"),
    ({"inputs": [{"name": "features", "shape": [1, 60, 3], "datatype": "FP32", "parameters": {"binary_data_size": 720}}]},
     b"\0" * 100, None, "runs past the end of the body"),
    ({"inputs": [{"name": "features", "shape": [1, 60, 3], "datatype": "FP32", "parameters": {"binary_data_size": 720}}]},
     b"\0" * 726, None, "6 bytes after the JSON"),
    ({"inputs": [{"name": "features", "shape": [1, 60, 3], "datatype": "FP32", "data": [0.0] * 180,
                  "parameters": {"binary_data_size": 720}}]}, b"\0" * 720, None, "both data and binary_data_size"),
    ({"inputs": [{"name": "features", "shape": [1, 60, 3], "datatype": "FP32"}]}, b"", None,
     "neither data nor parameters.binary_data_size"),
    ({"inputs": []}, b"", 10_000, "Inference-Header-Content-Length must be a byte count within the body"),
    ({"inputs": []}, b"", 3, "first 3 bytes (Inference-Header-Content-Length) are not JSON"),
    ({"inputs": [{"name": "features", "shape": [1, 60, 3], "datatype": "FP32",
                  "parameters": {"shared_memory_region": "x"}}]}, b"", None, "shared memory is not supported"),
])
def test_bad_binary_tensor_requests_get_400_saying_what_is_wrong(api, header, tensors, length, message):
    body, headers = binary_request(header, tensors, length)
    status, answer = api.post("/v2/models/stock-gru/infer", body, headers)
    assert status == 400 and message in answer["error"], answer


@pytest.mark.parametrize("body, message", [
    ({"inputs": [{"name": ["features"], "shape": [1, 60, 3], "datatype": "FP32", "data": [0.0] * 180}]},
     "name must be a string"),
    ({"inputs": [{"name": "features", "shape": [True, 60, 3], "datatype": "FP32", "data": [0.0] * 180}]},
     "shape must be a list of non-negative integers"),
    ({"inputs": [{"name": "features", "shape": [2 ** 40, 2 ** 40, 3], "datatype": "FP32", "data": []}]},
     "at most 67,108,864 per tensor"),
    ({"inputs": [{"name": "features", "shape": [1, 60, 3], "datatype": "FP32", "data": [0.0] * 180,
                  "parameters": [1]}]}, "parameters must be an object"),
    ({"inputs": [{"name": "features", "shape": [1, 60, 3], "datatype": "FP32", "data": [0.0] * 180}], "outputs": 5},
     "outputs must be a list of objects"),
])
def test_malformed_tensors_get_400_not_500(api, body, message):
    status, answer = api.post("/v2/models/stock-gru/infer", body)
    assert status == 400 and message in answer["error"], answer


def test_outputs_that_overflow_get_400_saying_why(api):
    body = {"inputs": [{"name": "tokens", "shape": [1, 1], "datatype": "INT64", "data": [0]},
                       {"name": "h0", "shape": [2, 1, 512], "datatype": "FP32", "data": [3e38] * 1024}]}
    status, answer = api.post("/v2/models/shakespeare-gru/infer", body)
    assert status == 400 and "not finite for these inputs" in answer["error"], answer
