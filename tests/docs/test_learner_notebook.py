"""zoo/docs/learn-rnns.ipynb is committed with its outputs, and they are fresh: the code that ran is the code that is
there, and a tiny re-run gives every cell the same kinds of output (not the same bytes).

After editing a code cell, re-execute the notebook in place (full settings, a few minutes on 2 cores):

    RNNZOO_DATA=../shared/data python -m tests.docs.test_learner_notebook
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.docs.notebooks import outputs_text, this_interpreters_kernel
from tests.docs.test_docs import LINK
from tests.helpers import REPO

NOTEBOOK = REPO / "zoo" / "docs" / "learn-rnns.ipynb"
COMMAND = "RNNZOO_DATA=../shared/data python -m tests.docs.test_learner_notebook"
FIGURES = 4  # the loss curves, the next-character distributions, the gate heatmaps, the counting unit
# What the notebook must not import: the server (and BentoML with it), and the training code (the [train] extra).
SERVER_OR_TRAINING = re.compile(r"^\s*(?:import|from)\s+(?:bentoml|service|training)\b", re.M)


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def code_digest(notebook) -> str:
    """The sha256 of every code cell's source, in order: what the stamp records at execution."""
    return hashlib.sha256(json.dumps([cell.source for cell in code_cells(notebook)]).encode()).hexdigest()


def output_kinds(cell) -> list[str]:
    """What a cell showed, without the content: "stream:stdout", "display_data:image/png,text/plain", ..."""
    return [f"stream:{output.name}" if output.output_type == "stream"
            else f"{output.output_type}:{','.join(sorted(output.get('data', {})))}" for output in cell.outputs]


def execute(notebook, tiny: bool, timeout: int) -> None:
    """Run every cell of `notebook` in a fresh kernel of this interpreter, in zoo/docs, filling in its outputs."""
    env = {**os.environ, "RNNZOO_NOTEBOOK_TINY": "1" if tiny else "0"}
    if env.get("RNNZOO_DATA"):  # absolute: the kernel runs in zoo/docs, where a relative path points elsewhere
        env["RNNZOO_DATA"] = str(Path(env["RNNZOO_DATA"]).resolve())
    with tempfile.TemporaryDirectory() as scratch:
        kernel = this_interpreters_kernel(Path(scratch))
        client = NotebookClient(notebook, km=kernel, kernel_name="python3", timeout=timeout, startup_timeout=60,
                                coalesce_streams=True, record_timing=False,  # one output per stream, no timestamps
                                resources={"metadata": {"path": str(NOTEBOOK.parent)}})
        client.execute(cleanup_kc=True, env=env)  # raises CellExecutionError at the first failing cell


def test_committed_notebook_has_fresh_outputs_in_every_code_cell():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = code_cells(notebook)
    assert "parameters" in code[0].metadata.get("tags", []) and "RNNZOO_NOTEBOOK_TINY" in code[0].source

    stamp = notebook.metadata.get("rnnzoo", {})
    assert stamp.get("code_sha256") == code_digest(notebook), \
        f"the code cells changed since the notebook was executed; re-execute it: {COMMAND}"
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1)), "not one run, top to bottom"

    outputs = [output for cell in code for output in cell.outputs]
    assert all(cell.outputs for cell in code), "a code cell without output"
    assert not [o for o in outputs if o.output_type == "error" or o.get("name") == "stderr"], "errors or warnings"
    assert sum("image/png" in output.get("data", {}) for output in outputs) >= FIGURES

    samples = [cell for cell in code if "samples" in cell.metadata.get("tags", [])]
    assert len(samples) == 3  # from scratch at three steps; RNN, LSTM, GRU; temperature and top-k
    for cell in samples:
        header, _, body = outputs_text(cell).partition("\n")
        assert len(re.split(r"\s{2,}", header.strip())) >= 3 and len(re.findall(r"[a-z]", body)) > 300  # columns of text
    assert stamp.get("settings") == "full", f"committed with its tiny CI settings; execute it in full: {COMMAND}"
    assert re.search(r"after 100 steps +after 400 steps +after 1,000 steps", outputs_text(samples[0]))

    assert not [cell.source for cell in code if SERVER_OR_TRAINING.search(cell.source)]
    links = [target.partition("#")[0] for cell in notebook.cells if cell.cell_type == "markdown"
             for _, target in LINK.findall(cell.source) if not re.match(r"https?:", target)]
    assert links and not [link for link in links if not (NOTEBOOK.parent / link).exists()]


@pytest.mark.slow
def test_notebook_reruns_on_tiny_settings_with_the_same_cells_and_kinds_of_output(data_dir, monkeypatch):
    monkeypatch.setenv("RNNZOO_DATA", str(data_dir))
    committed = nbformat.read(NOTEBOOK, as_version=4)
    fresh = nbformat.read(NOTEBOOK, as_version=4)
    for cell in code_cells(fresh):
        cell.outputs, cell.execution_count = [], None
    # One more cell at the end: which packages beyond the [learn] extra's the notebook's kernel imported (the
    # server's, training's, or the base install's that only the registry and tasks need), so it runs with only
    # torch, numpy, matplotlib, onnxruntime and onnx installed and the checkout on the path.
    fresh.cells.append(nbformat.v4.new_code_cell(
        "print(sorted({name.split('.')[0] for name in sys.modules} & "
        "{'bentoml', 'service', 'training', 'tokenizers', 'mido', 'pydantic', 'redis', 'rnnzoo'}))"))
    execute(fresh, tiny=True, timeout=120)
    probe = fresh.cells.pop()
    assert outputs_text(probe).strip() == "[]", f"the notebook imported {outputs_text(probe).strip()}"

    # (The sources that ran are the committed ones: the fast test's stamp says so.)
    for ran, kept in zip(code_cells(fresh), code_cells(committed)):
        kinds = [kind for kind in output_kinds(ran) if kind != "stream:stderr"]
        assert kinds == output_kinds(kept), f"this cell now shows {kinds}, the committed one {output_kinds(kept)}:\n" \
                                            f"{ran.source[:200]}"
    text = "\n".join(outputs_text(cell) for cell in code_cells(fresh))
    assert "tiny settings" in text
    # The zoo's model, read back from its ONNX file into the notebook's own LSTM code, computes what onnxruntime does.
    difference = float(re.search(r"between our LSTM code and onnxruntime: (\S+)", text).group(1))
    assert difference < 1e-4


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=f"Execute {NOTEBOOK.relative_to(REPO)} in place and stamp it.")
    parser.add_argument("--tiny", action="store_true", help="the CI settings (seconds), not the full ones (minutes)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell")
    args = parser.parse_args(argv)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    execute(notebook, tiny=args.tiny, timeout=args.timeout)
    notebook.metadata["rnnzoo"] = {"code_sha256": code_digest(notebook), "settings": "tiny" if args.tiny else "full"}
    nbformat.write(notebook, NOTEBOOK)
    print(f"executed {NOTEBOOK} ({'tiny' if args.tiny else 'full'} settings) and wrote its outputs", file=sys.stderr)


if __name__ == "__main__":
    main()
