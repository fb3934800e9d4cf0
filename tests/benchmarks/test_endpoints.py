"""The every-endpoint table of service/docs/performance.md is what `benchmarks.endpoints.report` makes of the
committed results."""
import json

from benchmarks.endpoints import LEVELS, report
from tests.helpers import REPO


def test_the_performance_page_shows_the_committed_endpoint_results():
    results = json.loads((REPO / "benchmarks" / "results" / "endpoints.json").read_text())
    assert {r["concurrency"] for r in results} == set(LEVELS)
    assert {r["endpoint"] for r in results} == {"sentiment", "stock_forecast", "vitals", "generate", "music/score",
                                                 "transcribe", "translate"}  # one endpoint per task
    assert report(results) in (REPO / "service" / "docs" / "performance.md").read_text()
