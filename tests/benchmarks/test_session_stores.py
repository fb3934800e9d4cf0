"""The session-store benchmark runs end to end on a tiny load: both stores measured, every table filled."""
import pytest

pytestmark = [pytest.mark.http, pytest.mark.slow]


def test_the_store_benchmark_measures_both_stores_side_by_side(data_dir, tmp_path, capsys):
    from benchmarks.session_stores import main

    results = main(["--steps", "3", "--sessions", "4", "--rounds", "1", "--data-dir", str(data_dir),
                    "--json", str(tmp_path / "results.json")])
    assert set(results["latency_ms"]) == {"memory", "redis"}
    assert all(ms > 0 for store in results["latency_ms"].values() for ms in store.values())
    assert results["steps_per_s"]["redis"] > 0 and results["steps_per_s"]["memory"] > 0
    sizes = results["redis_bytes"]["shakespeare-lstm"]
    assert sizes["encoded"] > 2 * 2 * 512 * 4  # at least the LSTM's h and c (2 layers x 512 float32 each)
    assert sizes["memory_usage"] >= sizes["encoded"]
    out = capsys.readouterr().out
    assert "| speech, a 100 ms chunk |" in out and "Redis MEMORY USAGE" in out and "| pure Python |" in out


def test_the_sessions_page_shows_the_committed_store_results():
    import json

    from benchmarks.session_stores import report
    from tests.helpers import REPO

    results = json.loads((REPO / "benchmarks" / "results" / "session_stores.json").read_text())
    assert report(results, 100) in (REPO / "service" / "docs" / "sessions.md").read_text()
