"""Parity vectors: random inputs shaped as a card's, with the outputs the model's source (torch eager here)
computed for them, saved beside the card. zoo.validate replays them through onnxruntime every time the
artifact is loaded.

    python -m training.parity zoo/artifacts/sst2-gru [...]   # (re)write them from the shipped file's weights

The exporters write them at export time from the module they exported; this command recovers the torch
module from a shipped file (training.from_onnx) for artifacts exported before parity vectors existed. An
int8 variant's expected outputs come from its fp32 source's torch module, so its tolerance bounds what
quantization changed.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch

from zoo.cards import MODEL_FILE, ModelCard, ParityVectors, sha256_of
from zoo.runtime import create_session, example_inputs, verified_bytes
from zoo.validate import parity_difference, save_parity_vectors

PARITY_FILE = "parity.npz"
BATCH, STEPS, SEED = 2, 9, 0  # small: the file stays a few kB and the check costs nothing at start-up


@torch.no_grad()
def torch_outputs(module: torch.nn.Module, card: ModelCard, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the exported module on the card's inputs, in the card's order (every zoo export takes them
    positionally and returns a tensor or a tuple in the card's output order)."""
    result = module.eval()(*[torch.from_numpy(inputs[spec.name]) for spec in card.inputs])
    result = result if isinstance(result, tuple) else (result,)
    return {spec.name: value.numpy().astype(np.float32) for spec, value in zip(card.outputs, result)}


def write_parity_vectors(directory: Path, card: ModelCard, outputs_of, source: str, tolerance: float) -> ModelCard:
    """Save inputs and `outputs_of(inputs)` beside the card, check onnxruntime against them, and record them
    on the card (saved). Raises if onnxruntime is further off than `tolerance`."""
    directory = Path(directory)
    inputs = example_inputs(card, batch=BATCH, steps=STEPS, rng=np.random.default_rng(SEED))
    path = directory / PARITY_FILE
    save_parity_vectors(path, inputs, outputs_of(inputs))
    session = create_session(verified_bytes(directory / MODEL_FILE, card.export.sha256), ["CPUExecutionProvider"])
    difference = parity_difference(card, path.read_bytes(), session)
    if not difference <= tolerance:
        path.unlink()
        raise ValueError(f"{card.name}: onnxruntime differs from {source} by {difference:.3g} > {tolerance:g}")
    card.export.parity_vectors = ParityVectors(file=PARITY_FILE, sha256=sha256_of(path), source=source,
                                               tolerance=tolerance, max_abs_diff=difference)
    card.save(directory)
    return card


def from_torch(directory: Path, card: ModelCard, module: torch.nn.Module, tolerance: float | None = None) -> ModelCard:
    """Parity vectors whose expected outputs come from `module` in torch eager (the exporters' call)."""
    return write_parity_vectors(directory, card, lambda inputs: torch_outputs(module, card, inputs),
                                f"torch {torch.__version__} eager", tolerance or card.export.parity_tolerance)


def int8_tolerance(difference: float) -> float:
    """Twice what int8 changed, rounded up to one significant digit: room for another CPU's kernels,
    none for a different model."""
    exponent = math.floor(math.log10(2 * difference))
    return math.ceil(2 * difference / 10**exponent) * 10**exponent


def from_fp32_source(directory: Path, card: ModelCard, source_dir: Path) -> ModelCard:
    """An int8 variant's parity vectors: its fp32 source's, with a tolerance set by what int8 changed there."""
    source = ModelCard.load(source_dir).export.parity_vectors
    data = verified_bytes(Path(source_dir) / source.file, source.sha256)
    (Path(directory) / PARITY_FILE).write_bytes(data)
    session = create_session(verified_bytes(Path(directory) / MODEL_FILE, card.export.sha256), ["CPUExecutionProvider"])
    difference = parity_difference(card, data, session)
    card.export.parity_vectors = ParityVectors(
        file=PARITY_FILE, sha256=sha256_of(Path(directory) / PARITY_FILE),
        source=f"{source.source}, fp32 weights of {Path(source_dir).name}", tolerance=int8_tolerance(difference),
        max_abs_diff=difference)
    card.save(directory)
    return card


def rewrite(directory: Path) -> ModelCard:
    """Parity vectors for a shipped artifact, from the torch module recovered from its file (int8 variants:
    their source's vectors)."""
    from training.from_onnx import torch_model

    card = ModelCard.load(directory)
    if card.quantization is not None:
        return from_fp32_source(directory, card, Path(directory).parent / card.quantization.source)
    return from_torch(directory, card, torch_model(directory))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    folders = sorted(parser.parse_args().folders, key=lambda f: ModelCard.load(f).quantization is not None)
    for folder in folders:  # fp32 sources before their int8 variants
        vectors = rewrite(folder).export.parity_vectors
        print(f"{folder}: max |onnxruntime - {vectors.source}| = {vectors.max_abs_diff:.3g} (tolerance {vectors.tolerance:g})")


if __name__ == "__main__":
    main()
