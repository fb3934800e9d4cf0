"""Parity vectors: random inputs shaped as a card's, with the outputs the model's source (torch eager here)
computed for them, saved beside the card. zoo.validate replays them through onnxruntime every time the
artifact is loaded.

The exporters write them at export time from the module they exported; `python -m training.parity` rewrites
them for a shipped file. An int8 variant's expected outputs come from its fp32 source's torch module, so its
tolerance bounds what quantization changed.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import onnxruntime as ort
import torch

from zoo.artifacts import create_session, verified_bytes
from zoo.cards import MODEL_FILE, ModelCard, ParityVectors, sha256_of
from zoo.checks import ValidationError, example_inputs, parity_bytes, parity_difference

PARITY_FILE = "parity.npz"
BATCH, STEPS, SEED = 2, 9, 0  # small: the file stays a few kB and the check costs nothing at start-up


@torch.no_grad()
def torch_outputs(module: torch.nn.Module, card: ModelCard, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the exported module on the card's inputs, in the card's order (every zoo export takes them
    positionally and returns a tensor or a tuple in the card's output order)."""
    result = module.eval()(*[torch.from_numpy(inputs[spec.name]) for spec in card.inputs])
    result = result if isinstance(result, tuple) else (result,)
    return {spec.name: value.numpy().astype(np.float32) for spec, value in zip(card.outputs, result)}


def record_parity(directory: Path, card: ModelCard, data: bytes, source: str, tolerance: float | None,
                  session: ort.InferenceSession | None = None) -> ModelCard:
    """Check that onnxruntime reproduces the parity vectors in `data` (an .npz) within `tolerance` (None: set
    from what it measures, for int8 variants), then save them beside the card and record them on it (saved).
    Raises ValidationError, writing nothing, when onnxruntime is further off."""
    directory = Path(directory)
    session = session or create_session(verified_bytes(directory / MODEL_FILE, card.export.sha256),
                                         ["CPUExecutionProvider"])
    difference = parity_difference(card, data, session)
    tolerance = int8_tolerance(difference) if tolerance is None else tolerance
    if not difference <= tolerance:  # NaN fails too
        raise ValidationError(f"{card.name}: onnxruntime differs from {source} by {difference:.3g} on the parity vectors, "
                              f"more than the tolerance {tolerance:g}: the file does not compute what its source "
                              "computed (gate order? reset-gate placement? dtype?)")
    (directory / PARITY_FILE).write_bytes(data)
    card.export.parity_vectors = ParityVectors(file=PARITY_FILE, sha256=sha256_of(directory / PARITY_FILE),
                                               source=source, tolerance=tolerance, max_abs_diff=difference)
    card.save(directory)
    return card


def torch_parity_bytes(module: torch.nn.Module, card: ModelCard) -> bytes:
    """The .npz of example inputs shaped as the card's and what `module` computes for them in torch eager."""
    inputs = example_inputs(card, batch=BATCH, steps=STEPS, rng=np.random.default_rng(SEED))
    return parity_bytes(inputs, torch_outputs(module, card, inputs))


def from_torch(directory: Path, card: ModelCard, module: torch.nn.Module, tolerance: float | None = None) -> ModelCard:
    """Parity vectors whose expected outputs come from `module` in torch eager (the exporters' call)."""
    return record_parity(directory, card, torch_parity_bytes(module, card), f"torch {torch.__version__} eager",
                         tolerance or card.export.parity_tolerance)


def int8_tolerance(difference: float) -> float:
    """Twice what int8 changed, rounded up to one significant digit: room for another CPU's kernels,
    none for a different model."""
    exponent = math.floor(math.log10(2 * difference))
    return math.ceil(2 * difference / 10**exponent) * 10**exponent


def from_fp32_source(directory: Path, card: ModelCard, source_dir: Path) -> ModelCard:
    """An int8 variant's parity vectors: its fp32 source's, with a tolerance set by what int8 changed there."""
    source = ModelCard.load(source_dir).export.parity_vectors
    return record_parity(directory, card, verified_bytes(Path(source_dir) / source.file, source.sha256),
                         f"{source.source}, fp32 weights of {Path(source_dir).name}", tolerance=None)
