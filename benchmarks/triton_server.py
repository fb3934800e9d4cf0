"""The peer to beat: NVIDIA Triton (PyTriton, `nvidia-pytriton` on PyPI) serving the same sentiment model as the
zoo's /sentiment, the same ONNX file, the same tokenizer and one onnxruntime thread, behind Triton's C++ HTTP
front end and dynamic batcher (requests queue up to 2 ms to share a call, as the zoo's batcher merges them).

    .venv-peers/bin/python -m benchmarks.triton_server --port 8000    # then POST /v2/models/sentiment/infer

PyTriton pins numpy below 2, so it runs from a virtual environment of its own (service/docs/performance.md):
    python3 -m venv .venv-peers && .venv-peers/bin/pip install nvidia-pytriton onnxruntime tokenizers mido \
        pydantic && .venv-peers/bin/pip install --no-deps -e .
Its stub process loads the Python's shared library: LD_LIBRARY_PATH must hold the Python's own lib folder, or it
loads Debian's libpython and fails; `main` sets it before Triton starts.

A request is Open Inference Protocol JSON (`request_body`): one text as BYTES, answered with the positive
probability, as /sentiment answers one text.
"""
from __future__ import annotations

import argparse
import os
import sys
import sysconfig
from pathlib import Path

import numpy as np

MODEL = "sst2-lstm-int8"
MAX_QUEUE_DELAY_US = 2000


def request_body(text: str) -> dict:
    """The body of one text for Triton's /v2/models/sentiment/infer."""
    return {"inputs": [{"name": "text", "shape": [1, 1], "datatype": "BYTES", "data": [text]}]}


def serve(port: int, model: str) -> None:
    from pytriton.decorators import batch
    from pytriton.model_config import DynamicBatcher, ModelConfig, Tensor
    from pytriton.triton import Triton, TritonConfig

    import zoo

    predictor = zoo.load(model)  # the zoo's checks: sha256, contract, parity; one onnxruntime thread

    @batch
    def infer(text: np.ndarray) -> dict[str, np.ndarray]:
        texts = [row[0].decode("utf-8") for row in text]  # (B, 1) bytes
        probabilities = predictor.run(predictor.tokenizer.encode(texts))  # (B, 2)
        return {"positive": probabilities[:, 1:2].astype(np.float32)}  # (B, 1)

    config = TritonConfig(http_address="127.0.0.1", http_port=port, grpc_port=port + 1, metrics_port=port + 2)
    with Triton(config=config) as triton:
        triton.bind(model_name="sentiment", infer_func=infer,
                    inputs=[Tensor(name="text", dtype=bytes, shape=(1,))],
                    outputs=[Tensor(name="positive", dtype=np.float32, shape=(1,))],
                    config=ModelConfig(max_batch_size=32, batcher=DynamicBatcher(
                        max_queue_delay_microseconds=MAX_QUEUE_DELAY_US)))
        triton.serve()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000, help="HTTP; gRPC and metrics take the next two")
    parser.add_argument("--model", default=MODEL)
    args = parser.parse_args(argv)
    library = sysconfig.get_config_var("LIBDIR")
    if library and library not in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
        # The dynamic loader reads LD_LIBRARY_PATH at process start: run again with it set.
        os.environ["LD_LIBRARY_PATH"] = ":".join(filter(None, [library, os.environ.get("LD_LIBRARY_PATH")]))
        os.execv(sys.executable, [sys.executable, "-m", "benchmarks.triton_server", *(argv or sys.argv[1:])])
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    serve(args.port, args.model)


if __name__ == "__main__":
    main()
