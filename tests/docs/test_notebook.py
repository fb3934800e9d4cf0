"""zoo/docs/quickstart.ipynb runs end to end on tiny settings: train, export, serve, query, plot, stop."""
from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import nbformat
import psutil
import pytest
from nbclient import NotebookClient

from tests.docs.notebooks import outputs_text, this_interpreters_kernel
from tests.helpers import REPO

NOTEBOOK = REPO / "zoo" / "docs" / "quickstart.ipynb"


def test_committed_notebook_has_no_outputs_and_a_parameters_cell():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "parameters" in code[0].metadata.get("tags", []) and "RNNZOO_NOTEBOOK_TINY" in code[0].source


def servers_started_in(work: Path) -> list[psutil.Process]:
    """The `bentoml serve` processes (and their workers) that serve the notebook's work folder."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "bentoml" in " ".join(process.info["cmdline"] or []) and \
                    process.environ().get("RNNZOO_ARTIFACTS", "").startswith(str(work)):
                found.append(process)
        except psutil.Error:  # gone meanwhile, or not ours to read
            pass
    return found


@pytest.mark.http
@pytest.mark.slow
def test_quickstart_notebook_runs_on_tiny_settings(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("RNNZOO_NOTEBOOK_TINY", "1")
    # absolute: the kernel runs in zoo/docs, where a relative data path would point elsewhere
    monkeypatch.setenv("RNNZOO_DATA", str(Path(data_dir).resolve()))
    monkeypatch.delenv("RNNZOO_ARTIFACTS", raising=False)  # the notebook sets it for its own server only
    kernel = this_interpreters_kernel(tmp_path / "kernels")
    assert kernel.kernel_spec.argv[0] == sys.executable

    notebook = nbformat.read(NOTEBOOK, as_version=4)
    docs_before = sorted(p.name for p in NOTEBOOK.parent.iterdir())
    client = NotebookClient(notebook, km=kernel, kernel_name="python3", timeout=120, startup_timeout=60,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})  # where a user opens it
    try:
        # Raises CellExecutionError at the first failing cell. cleanup_kc: shut the kernel down (gracefully, so
        # the notebook's atexit handler stops its server) even though we own the kernel manager.
        client.execute(cleanup_kc=True)
    finally:
        if kernel.has_kernel:
            kernel.shutdown_kernel()
        text = "\n".join(outputs_text(cell) for cell in notebook.cells if cell.cell_type == "code")
        work = re.search(r"work folder: (\S+)", text)
        leftovers = servers_started_in(Path(work.group(1))) if work else []
        for process in leftovers:  # a failed run must not leave servers behind either
            process.kill()
        psutil.wait_procs(leftovers, timeout=10)
    assert not leftovers, f"the notebook left bentoml processes running: {leftovers}"

    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]

    assert re.search(r"saved .*test-shakespeare-gru\.pt \(best step \d+", text)  # trained in the work folder
    card_loss = float(re.search(r"model +([\d.]+) nats/char on 111,539 characters", text).group(1))
    baseline = float(re.search(r"baseline ([\d.]+) nats/char", text).group(1))
    assert baseline == pytest.approx(1.579, abs=0.01) and card_loss < 4.17  # beats a uniform guess (ln 65)
    assert "GET /models: test-shakespeare-gru (generation)" in text
    generated = re.search(r"POST /generate: test-shakespeare-gru wrote (\d+) characters \(finish reason: length\)", text)
    assert generated and int(generated.group(1)) == 300
    assert "the same text as the card's sample: True" in text  # same weights, seed and sampler as the export
    assert "the same answer as the pipeline in process: True" in text  # zoo.pipeline == bentoml.SyncHTTPClient
    assert sum("image/png" in output.get("data", {}) for output in outputs) == 2  # the loss curve, the frequencies

    # The server stopped in the notebook's last cell, the work folder is gone, the repository gained no files.
    port = int(re.search(r"serving at http://127\.0\.0\.1:(\d+)", text).group(1))
    assert f"server on port {port} stopped" in text
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0
    assert Path(work.group(1)).name.startswith("rnnzoo-quickstart-") and not Path(work.group(1)).exists()
    assert sorted(p.name for p in NOTEBOOK.parent.iterdir()) == docs_before
