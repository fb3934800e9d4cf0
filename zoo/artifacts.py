"""Artifacts on disk and onnxruntime: where the shipped models are, checksums, execution providers, sessions."""
from __future__ import annotations

import hashlib
import logging
import os
import platform
from pathlib import Path

import onnxruntime as ort

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"
PROVIDERS_ENV = "RNNZOO_PROVIDERS"
log = logging.getLogger("bentoml.rnnzoo")  # under bentoml so `bentoml serve` shows it


class ArtifactError(RuntimeError):
    """An artifact that must not be served: missing file, checksum mismatch, unreadable model."""


def choose_providers(requested: str | None = None) -> list[str]:
    """CUDA when onnxruntime has it, else CPU; RNNZOO_PROVIDERS="A,B" overrides the order."""
    available = ort.get_available_providers()
    requested = requested if requested is not None else os.environ.get(PROVIDERS_ENV, "")
    if requested.strip():
        providers = [p.strip() for p in requested.split(",") if p.strip()]
        missing = [p for p in providers if p not in available]
        if missing:
            raise ValueError(f"{PROVIDERS_ENV} asks for {missing}, which this onnxruntime lacks; "
                             f"available: {available}")
        return providers
    preferred = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return preferred or available


def cpu_name() -> str:
    """The processor's model name, as the cards, benchmarks and leaderboard record the machine."""
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def verified_bytes(path: Path, expected_sha256: str) -> bytes:
    """The file's bytes, only if they hash to the expected value (read once: no check-then-swap)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ArtifactError(f"{path} has sha256 {actual}, but its card says {expected_sha256}; refusing to load it")
    return data


def create_session(model_bytes: bytes, providers: list[str], threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # One intra-op thread per worker by default: on small CPUs oversubscription costs far more than
    # it gains; throughput comes from more workers and from batching.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # No CPU memory arena: an arena grows to the largest batch each session has run and keeps that memory, for each
    # of the 29 sessions. Measured in process with every model loaded: 350 vs 372 MB RSS, and 367 vs 384 MB after
    # 300 sst2-lstm-int8 calls of 1-32 texts; the same model runs as fast without it (0.170 vs 0.170 ms at batch 1,
    # 1.960 vs 1.967 ms at batch 32, medians of 40 alternated runs).
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model_bytes, sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ArtifactError(f"onnxruntime cannot load the model: {error}") from None
