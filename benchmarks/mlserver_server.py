"""A peer: Seldon's MLServer 1.7 serving the same sentiment model as the zoo's /sentiment (the same ONNX file,
tokenizer and one onnxruntime thread) through a custom runtime, with MLServer's adaptive batching (requests wait
up to 2 ms to share a call, as the zoo's batcher and Triton's do).

    .venv-peers-mlserver/bin/python -m benchmarks.mlserver_server --port 8100 [--parallel-workers 0]

MLServer pins its own FastAPI and uvicorn, so it runs from a virtual environment of its own:
    python3 -m venv .venv-peers-mlserver && .venv-peers-mlserver/bin/pip install "mlserver==1.7.*" "uvloop<0.22" \
        onnxruntime tokenizers mido && .venv-peers-mlserver/bin/pip install --no-deps -e .
uvloop 0.22 dropped the implicit event loop that MLServer 1.7.1's inference workers ask for: with it, every worker
dies at start ("There is no current event loop") and the default settings serve nothing.

`--parallel-workers 0` runs inference in the server's own process; MLServer's default (1) runs it in a pool of
worker processes that the front end reaches over a queue. A request is Open Inference Protocol JSON
(`request_body`): one text as BYTES, answered with the positive probability.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

try:  # the runtime's base class, when this module runs inside MLServer's environment
    from mlserver import MLModel
    from mlserver.codecs import NumpyCodec, StringCodec
    from mlserver.types import InferenceRequest, InferenceResponse
except ImportError:  # imported by the harness (for request_body) from the zoo's own environment
    MLModel = object

MODEL = "sst2-lstm-int8"
MAX_BATCH_TIME_S = 0.002
MAX_BATCH_SIZE = 32


def request_body(text: str) -> dict:
    """The body of one text for MLServer's /v2/models/sentiment/infer."""
    return {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [text]}]}


class ZooSentiment(MLModel):
    """The runtime MLServer loads: the zoo's verified predictor (sha256, contract, parity) behind MLServer's API."""

    async def load(self) -> bool:
        import zoo

        self._predictor = zoo.load(self.settings.parameters.extra["model"])
        return True

    async def predict(self, payload: "InferenceRequest") -> "InferenceResponse":
        texts = StringCodec.decode_input(payload.inputs[0])  # B texts: adaptive batching joined the requests
        probabilities = self._predictor.run(self._predictor.tokenizer.encode(texts))  # (B, 2)
        return InferenceResponse(model_name=self.name, outputs=[
            NumpyCodec.encode_output("positive", probabilities[:, 1:2].astype(np.float32))])  # (B, 1)


def write_repository(folder: Path, port: int, parallel_workers: int | None, model: str) -> None:
    """MLServer's settings.json and the model's model-settings.json in `folder`."""
    settings = {"http_port": port, "grpc_port": port + 1, "metrics_port": port + 2, "debug": False}
    if parallel_workers is not None:
        settings["parallel_workers"] = parallel_workers
    (folder / "settings.json").write_text(json.dumps(settings))
    model_folder = folder / "sentiment"
    model_folder.mkdir()
    (model_folder / "model-settings.json").write_text(json.dumps({
        "name": "sentiment", "implementation": "benchmarks.mlserver_server.ZooSentiment",
        "max_batch_size": MAX_BATCH_SIZE, "max_batch_time": MAX_BATCH_TIME_S,
        "parameters": {"extra": {"model": model}}}))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8100, help="HTTP; gRPC and metrics take the next two")
    parser.add_argument("--parallel-workers", type=int, default=None, help="MLServer's default when left out")
    parser.add_argument("--model", default=MODEL)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="rnnzoo-mlserver-"))
    write_repository(folder, args.port, args.parallel_workers, args.model)
    # MLServer imports the runtime by its dotted path: the repository root must be on the path of every process.
    repository = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [repository, os.environ.get("PYTHONPATH")]))
    executable = shutil.which("mlserver", path=str(Path(sys.executable).parent)) or "mlserver"
    os.execv(executable, [executable, "start", str(folder)])


if __name__ == "__main__":
    main()
