"""A peer: TorchServe 0.12 (Java front end, Python backend workers) serving the same sentiment model as the zoo's
/sentiment (the same ONNX file, tokenizer and one onnxruntime thread) through a custom handler, with TorchServe's
batching (requests wait up to 2 ms to share a call, as the zoo's batcher and Triton's do) and one backend worker.

    .venv-peers-torchserve/bin/python -m benchmarks.torchserve_server --port 8200   # POST /predictions/sentiment

TorchServe needs Java 17 and its handlers import torch, so it runs from a virtual environment of its own:
    python3 -m venv .venv-peers-torchserve && .venv-peers-torchserve/bin/pip install torch==2.13.0 \\
        "torchserve==0.12.*" "torch-model-archiver==0.12.*" onnxruntime tokenizers mido pydantic && \\
        .venv-peers-torchserve/bin/pip install --no-deps -e .
A request is JSON `{"text": str}` (`request_body`), answered with `{"positive": float}`.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

MODEL = "sst2-lstm-int8"
MAX_BATCH_DELAY_MS = 2
BATCH_SIZE = 32

# The handler TorchServe's backend worker imports from the model archive: the zoo's verified predictor (sha256,
# contract, parity). TorchServe hands it the requests it batched, one entry each, and wants one answer per entry.
HANDLER = '''
import json
import os

import zoo

_predictor = None


def handle(data, context):
    global _predictor
    if _predictor is None:
        _predictor = zoo.load(os.environ["RNNZOO_TORCHSERVE_MODEL"])
    if data is None:  # the worker's start-up call
        return None
    bodies = [entry.get("body") or entry.get("data") for entry in data]
    texts = [(body if isinstance(body, dict) else json.loads(body))["text"] for body in bodies]
    probabilities = _predictor.run(_predictor.tokenizer.encode(texts))  # (B, 2)
    return [{"positive": float(p)} for p in probabilities[:, 1]]
'''


def request_body(text: str) -> dict:
    """The body of one text for TorchServe's /predictions/sentiment."""
    return {"text": text}


def write_store(folder: Path, port: int) -> Path:
    """The model archive (handler only: the weights come from the zoo) and config.properties in `folder`."""
    (folder / "handler.py").write_text(HANDLER)
    store = folder / "store"
    store.mkdir()
    archiver = Path(sys.executable).parent / "torch-model-archiver"
    subprocess.run([str(archiver), "--model-name", "sentiment", "--version", "1.0", "--handler",
                    str(folder / "handler.py"), "--export-path", str(store)], check=True)
    models = {"sentiment": {"1.0": {"defaultVersion": True, "marName": "sentiment.mar", "minWorkers": 1,
                                    "maxWorkers": 1, "batchSize": BATCH_SIZE, "maxBatchDelay": MAX_BATCH_DELAY_MS}}}
    (folder / "config.properties").write_text("\n".join([
        f"inference_address=http://127.0.0.1:{port}", f"management_address=http://127.0.0.1:{port + 1}",
        f"metrics_address=http://127.0.0.1:{port + 2}", "disable_token_authorization=true",
        f"model_store={store}", "load_models=sentiment.mar", f"models={json.dumps(models)}", ""]))
    return folder / "config.properties"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8200, help="inference; management and metrics take the next two")
    parser.add_argument("--model", default=MODEL)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="rnnzoo-torchserve-"))
    config = write_store(folder, args.port)
    # The backend workers import the zoo (the repository on their path) and find this environment's python first;
    # TorchServe writes its logs under the working directory.
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent.parent),
                                                             os.environ.get("PYTHONPATH")]))
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    os.environ["RNNZOO_TORCHSERVE_MODEL"] = args.model
    os.environ["LOG_LOCATION"] = os.environ["METRICS_LOCATION"] = str(folder / "logs")
    os.chdir(folder)
    torchserve = str(Path(sys.executable).parent / "torchserve")
    os.execv(torchserve, [torchserve, "--start", "--foreground", "--ncs", "--ts-config", str(config),
                          "--model-store", str(folder / "store"), "--disable-token-auth"])


if __name__ == "__main__":
    main()
