"""A shipped ONNX file's weights back in the zoo's torch module, for torch-eager baselines.

The zoo ships ONNX only (checkpoints stay with whoever trained them), yet the performance harness and
the naive server need torch eager with the *same* weights. The exporter reorders gates, concatenates
biases, transposes matrices and may store fp16, so initializers do not map to parameters by name.
Instead: export the same architecture once with every parameter element set to its own index
(1, 2, 3, ... exact in fp32 below 2**24), then each initializer element of that marker graph says
which parameter element the shipped file's value at the same place belongs to.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from training.onnx_export import FP16_SUFFIX
from training.tasks import TRAINING_TASKS
from zoo import create_model
from zoo.artifacts import verified_bytes
from zoo.cards import MODEL_FILE, ModelCard


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {init.name.removesuffix(FP16_SUFFIX): numpy_helper.to_array(init) for init in model.graph.initializer}


@torch.no_grad()
def torch_model(directory: Path, source: str | None = None) -> torch.nn.Module:
    """The eval-mode torch module of the artifact in `directory`, carrying its weights (fp16-stored
    weights come back as the fp32 values onnxruntime computes with), as the task's exporter exported it (a
    generation model comes wrapped so that it takes and returns state like the ONNX graph). `source` names
    the registry entry to build when it differs from the card's name."""
    directory = Path(directory)
    card = ModelCard.load(directory)
    shipped = onnx.load_from_string(verified_bytes(directory / MODEL_FILE, card.export.sha256))
    if card.task not in TRAINING_TASKS:
        raise ValueError(f"{card.name}: no exporter for task {card.task!r}")
    model = create_model(source or card.name).eval()
    # Float buffers too: the forecaster's calibrated gap_scale is baked into the graph like a weight.
    named = [*model.named_parameters(), *((n, b) for n, b in model.named_buffers() if b.is_floating_point())]
    parameters = [tensor for _, tensor in named]
    offsets = np.cumsum([0] + [p.numel() for p in parameters])
    if offsets[-1] >= 2**24:
        raise ValueError(f"{card.name}: {offsets[-1]} parameters; fp32 markers are exact only below 2**24")
    for parameter, start in zip(parameters, offsets):
        parameter.copy_(torch.arange(start + 1, start + 1 + parameter.numel(), dtype=torch.float32)
                        .reshape(parameter.shape))
    with tempfile.TemporaryDirectory() as scratch:
        marker_path = Path(scratch) / "markers.onnx"
        # exported like the task's exporter (same inputs, names and tracing), but keeping fp32 markers
        exported = TRAINING_TASKS[card.task].export_fp32(model, card, marker_path)
        markers = _initializers(onnx.load(str(marker_path)))
    values = _initializers(shipped)
    if markers.keys() != values.keys():
        raise ValueError(f"{card.name}: the file's initializers {sorted(values)} differ from this architecture's "
                         f"{sorted(markers)}; was it exported from another version of the model?")
    flat = np.zeros(offsets[-1], dtype=np.float32)
    filled = np.zeros(offsets[-1], dtype=bool)
    for name, marker in markers.items():
        value = values[name].astype(np.float32)
        if marker.shape != value.shape:
            raise ValueError(f"{card.name}: initializer {name} is {value.shape} in the file, {marker.shape} here")
        marker = marker.astype(np.float64).ravel()
        is_parameter = (marker == np.round(marker)) & (marker >= 1) & (marker <= offsets[-1])
        if not is_parameter.any():
            continue  # a constant of the graph (no parameter behind it), e.g. a folded shape or scale
        if not is_parameter.all():
            raise ValueError(f"{card.name}: initializer {name} mixes parameters with computed values")
        index = marker.astype(np.int64) - 1
        flat[index] = value.ravel()
        filled[index] = True
    if not filled.all():
        missing = [name for (name, p), start in zip(named, offsets) if not filled[start:start + p.numel()].all()]
        raise ValueError(f"{card.name}: no value in the file for parameters {missing}")
    for parameter, start in zip(parameters, offsets):
        parameter.copy_(torch.from_numpy(flat[start : start + parameter.numel()]).reshape(parameter.shape))
    return exported.eval()
