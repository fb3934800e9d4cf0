"""The performance harness in smoke mode (tiny counts) so it cannot rot; the full run is not a test."""
import json
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from benchmarks.load import _milliseconds, _percentiles
from benchmarks.performance import markdown, recurrent_flops
from tests.helpers import REPO
from zoo.artifacts import ARTIFACTS_DIR


def test_wrk_durations_are_read_in_milliseconds():
    assert [_milliseconds(x) for x in ("250.00us", "1.50ms", "2.00s", "1.00m")] == [0.25, 1.5, 2000.0, 60000.0]


def test_wrk_percentiles_in_seconds_are_read_too():
    """wrk pads "2.94s" with a space to line it up with "43.87ms"; a p99 past a second must not be lost."""
    output = "  Latency Distribution\n     50%   43.87ms\n     75%   43.99ms\n     99%    2.94s \n"
    assert _percentiles(output) == {"50": 43.87, "99": 2940.0}


@contextmanager
def local_http_server(answer):
    """A threaded HTTP/1.1 server on 127.0.0.1 whose POSTs `answer(path)` gives a status for (after any wait it
    makes), each with the body {}; yields its url."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # else the header and body writes wait 40 ms on delayed ACKs

        def do_POST(self):  # noqa: N802 (the standard library's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(answer(self.path))
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()


def test_wrk_open_loop_holds_its_rate_whatever_the_answers_take():
    """The paced wrk script sends at the offered rate from a pool of connections, whatever the answers take: a
    server that answers in 20 ms gets 200 requests/s from 16 connections (closed, they would send 800/s), each
    latency is the server's own, and no request goes out late."""
    from benchmarks.load import run_at_rate

    def slowly(path: str) -> int:
        time.sleep(0.02)
        return 200

    with local_http_server(slowly) as url:
        result = run_at_rate(url, [{"texts": ["a"]}], 200, 3, client="wrk")
    assert result.client == "wrk-open-loop" and result.concurrency == 16 and result.errors == 0
    assert 0.9 * 200 < result.requests_per_s < 1.1 * 200
    assert 19 < result.p50_ms < 40 and result.late < 0.01 * result.requests


def test_wrk_mixes_paths_counts_statuses_and_the_requests_it_cut_off():
    """One wrk run posts each body to its own path (the soak's endpoint mix), counts the answers by status, and says
    how many requests were still in flight when it stopped: a stall at the end of a run is not lost."""
    from benchmarks.load import run_wrk

    seen: dict[str, int] = {}

    def by_path(path: str) -> int:
        seen[path] = seen.get(path, 0) + 1
        if path == "/stalled":
            time.sleep(5)
        return {"/busy": 503}.get(path, 200)

    with local_http_server(by_path) as url:
        result = run_wrk(url, [{"n": 1}, {"n": 2}, {"n": 3}], 4, 2, rate=100, paths=["/ok", "/busy", "/stalled"],
                         count_statuses=True)
    assert set(seen) == {"/ok", "/busy", "/stalled"}
    assert result.error_kinds == {"503": seen["/busy"]} and result.errors == seen["/busy"]
    # every connection ends up waiting on /stalled (5 s) and the run stops after 2 s: those requests were cut off
    assert result.cut_off == seen["/stalled"] > 0 and result.late > 0


def test_recurrent_flops_count_every_gate_of_every_layer_and_direction():
    # sst2-lstm: two unidirectional LSTM cores (forward, backward), input 128, hidden 256, 4 gates
    per_step = 2 * (2 * 4 * 256 * (128 + 256))
    model = (ARTIFACTS_DIR / "sst2-lstm" / "model.onnx").read_bytes()
    assert recurrent_flops(model, rows=3, steps=5) == 3 * 5 * per_step
    # shakespeare-gru: 2 layers, input 64 then 512, hidden 512, 3 gates
    model = (ARTIFACTS_DIR / "shakespeare-gru" / "model.onnx").read_bytes()
    assert recurrent_flops(model, rows=1, steps=1) == 2 * 3 * 512 * ((64 + 512) + (512 + 512))


@pytest.mark.http
@pytest.mark.slow
def test_smoke_run_writes_every_section(tmp_path, data_dir):
    from benchmarks.performance import main

    results = main(["--smoke", "--out", str(tmp_path), "--data-dir", str(data_dir)])
    assert json.loads((tmp_path / "results.json").read_text())["mode"] == "smoke"
    assert {p.name for p in tmp_path.glob("*.png")} == {"model_level.png", "service_level.png"}
    report = (tmp_path / "README.md").read_text()
    assert "**Model level**" in report and "this service / naive" in report and "**Generation**" in report
    assert results["matmul_peak_gflops"]["peak"] > 1
    runtimes = {(r["model"], r["runtime"]) for r in results["model_level"]}
    assert len(runtimes) == 2 * 3  # two models x torch, onnxruntime fp32, onnxruntime int8
    # smoke timings are too short to be accurate, only present and positive
    assert all(r["latency_ms"] > 0 and r["fraction_of_peak"] > 0 for r in results["model_level"])
    service = results["service_level"]
    servers = {r["server"] for r in service["load"]}
    assert servers == {"this service", "this service, batching off", "naive FastAPI + torch",
                       "this service, 2 API workers (sessions in Redis)"}
    assert service["memory"]["this service, 2 API workers (sessions in Redis)"]["processes"] >= 3  # arbiter + 2
    for row in service["load"]:  # light load: every request answered
        assert row["errors"] == 0 and row["requests"] > 0 and np.isfinite(row["p99_ms"]), row
    assert set(service["half_peak"]) == {"sentiment", "stock_forecast"}
    assert all(seconds > 0 for seconds in service["startup"].values())
    assert service["memory"]["this service"]["rss_mb"] > 50
    assert service["generation"]["chars_per_s"]["4"] > 0


def test_performance_page_and_results_page_show_the_committed_results():
    """service/docs/performance.md and results/README.md show what `markdown` makes of results.json."""
    results = json.loads((REPO / "benchmarks" / "results" / "results.json").read_text())
    tables = markdown(results).strip()
    page = (REPO / "service" / "docs" / "performance.md").read_text()
    section = page.split("<!-- performance:begin -->", 1)[1].split("<!-- performance:end -->", 1)[0]
    assert tables in section, "copy benchmarks/results/README.md's tables into service/docs/performance.md"
    assert tables in (REPO / "benchmarks" / "results" / "README.md").read_text()


@pytest.mark.http
@pytest.mark.slow
def test_two_revisions_are_measured_side_by_side(data_dir):
    """benchmarks.revisions against HEAD (a checkout of the last commit beside this tree), one tiny round."""
    from benchmarks.revisions import MEASURES, main

    runs = main(["HEAD", "--rounds", "1", "--seconds", "0.5", "--rate", "50", "--data-dir", str(data_dir)])
    for side in ("other", "this"):
        (run,) = runs[side]
        assert set(run) == {"sentiment", "stock_forecast"}
        for measured in run.values():
            assert measured["errors"] == 0 and all(measured[name] > 0 for name in MEASURES)


def test_torchserve_handler_answers_a_batch_as_the_zoo_does(monkeypatch):
    """The handler TorchServe's worker runs (benchmarks/torchserve_server.py), here with the zoo's environment: a
    batch of JSON bodies, as bytes or parsed, gets one positive probability each, the zoo's own."""
    import zoo
    from benchmarks.torchserve_server import HANDLER, MODEL, request_body

    monkeypatch.setenv("RNNZOO_TORCHSERVE_MODEL", MODEL)
    namespace: dict = {}
    exec(compile(HANDLER, "handler.py", "exec"), namespace)  # noqa: S102 - our own module text, as TorchServe runs it
    texts = ["a gorgeous, witty, seductive movie.", "a dull, lifeless movie."]
    assert namespace["handle"](None, None) is None  # the worker's start-up call loads the model
    answers = namespace["handle"]([{"body": json.dumps(request_body(texts[0])).encode()},
                                   {"body": request_body(texts[1])}], None)
    predictor = zoo.load(MODEL)
    expected = predictor.run(predictor.tokenizer.encode(texts))[:, 1]
    assert [a["positive"] for a in answers] == pytest.approx(expected.tolist(), abs=1e-6)


def test_mlserver_repository_batches_like_the_other_servers(tmp_path):
    from benchmarks.mlserver_server import MAX_BATCH_TIME_S, write_repository

    write_repository(tmp_path, 8100, 0, "sst2-lstm-int8")
    settings = json.loads((tmp_path / "settings.json").read_text())
    model = json.loads((tmp_path / "sentiment" / "model-settings.json").read_text())
    assert settings["parallel_workers"] == 0 and settings["http_port"] == 8100
    assert model["implementation"] == "benchmarks.mlserver_server.ZooSentiment"
    assert model["max_batch_time"] == MAX_BATCH_TIME_S == 0.002 and model["parameters"]["extra"]["model"]
    (tmp_path / "defaults").mkdir()
    write_repository(tmp_path / "defaults", 8100, None, "sst2-lstm-int8")  # MLServer's own default for workers
    assert "parallel_workers" not in json.loads((tmp_path / "defaults" / "settings.json").read_text())
