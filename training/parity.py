"""(Re)write the parity vectors of shipped artifacts from their own files' weights.

    python -m training.parity zoo/artifacts/sst2-gru [...]

The torch module comes back from the shipped file (training.from_onnx), for artifacts exported before parity
vectors existed; an int8 variant gets its fp32 source's vectors (training.parity_vectors.from_fp32_source).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from training.from_onnx import torch_model
from training.parity_vectors import from_fp32_source, from_torch
from zoo.cards import ModelCard


def rewrite(directory: Path) -> ModelCard:
    """Parity vectors for a shipped artifact, from the torch module recovered from its file (int8 variants:
    their source's vectors)."""
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
