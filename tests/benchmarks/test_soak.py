"""The soak script's short version: a mix of every one-shot endpoint at 70% of the probed peak, no errors and
no memory growth worth the name. The 10-minute figures are in service/docs/reliability.md."""
import shutil

import pytest

pytestmark = [pytest.mark.http, pytest.mark.slow]


def test_a_short_soak_has_no_errors_and_flat_memory(data_dir, tmp_path):
    from benchmarks.soak import main

    result = main(["--minutes", "0.34", "--probe-seconds", "3", "--window-seconds", "10",
                   "--data-dir", str(data_dir), "--json", str(tmp_path / "soak.json")])
    assert result["peak_requests_per_s"] > 20 and result["requests"] > 100
    assert result["client"] == ("wrk" if shutil.which("wrk") else "aiohttp")
    assert result["errors"] == 0, [w["error_kinds"] for w in result["windows"]]
    assert result["load_client_failures"] == 0, [w.get("client_error") for w in result["windows"]]
    assert result["rss_growth"] <= 0.10
    assert all(w["requests"] > 0 and w["p99_ms"] > 0 for w in result["windows"])
    if result["client"] == "wrk":  # what only the wrk open loop measures: the cores each side used, the canary
        assert all(w["server_cores"] > 0 and w["client_cores"] > 0 and w["canary_worst_ms"] > 0
                   for w in result["windows"])


def test_the_kernel_tcp_and_memory_counters_are_read():
    from benchmarks.soak import CPU_COUNTERS, MEMORY_COUNTERS, TCP_COUNTERS, kernel_counters

    counters = kernel_counters()
    assert set(counters) == set(TCP_COUNTERS + MEMORY_COUNTERS + CPU_COUNTERS)
    assert all(value >= 0 for value in counters.values())


def test_the_stall_watchdog_dumps_the_stacks_of_a_process_tree(tmp_path):
    import subprocess
    import sys

    from benchmarks.soak import dump_stacks

    code = "import time\ndef waiting_for_the_answer():\n    time.sleep(60)\nwaiting_for_the_answer()\n"
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        import time

        time.sleep(1.0)  # let it reach the function
        path = dump_stacks(child.pid, tmp_path / "dumps", "test")
        assert path is not None and path.name == "stall-test.txt"
        assert "waiting_for_the_answer" in path.read_text()
    finally:
        child.kill()
        child.wait()
