"""Schemathesis over the service's own OpenAPI document (/docs.json): every endpoint, a bounded number of
generated requests, no 5xx and every answer conforming to its declared schema."""
import json
import subprocess
import sys
from urllib.request import urlopen

import pytest

pytestmark = [pytest.mark.http, pytest.mark.slow]


def test_generated_requests_get_no_server_error_and_match_the_schema(server, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{server}/docs.json",
         "--checks", "not_a_server_error,response_schema_conformance", "--max-examples", "15",
         "--generation-deterministic", "--request-timeout", "30", "--continue-on-failure"],
        capture_output=True, text=True, timeout=600, cwd=tmp_path)  # its example cache stays out of the checkout
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    operations = sum(len(methods) for methods in json.loads(urlopen(f"{server}/docs.json").read())["paths"].values())
    assert f"Tested: {operations}" in summary and " passed" in summary and "failures" not in summary, summary
