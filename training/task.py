"""What shared training machinery (from_onnx, quantize, bring_your_own) needs from a task, as one object.
Names no task: each task's folder builds its own TrainingTask, and training/tasks.py lists them."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from zoo.cards import ModelCard, TensorSpec


def no_vocabulary(tokenizer: Path | None, outputs: list[TensorSpec]) -> int:
    return 0


@dataclass(frozen=True)
class TrainingTask:
    name: str  # the zoo task's name, as on the cards
    # checkpoint -> ONNX -> parity -> onnxruntime evaluation -> card: (checkpoint, artifacts_dir, data_dir, command)
    export: Callable[[Path, Path, str | None, str], ModelCard]
    # export `model` as the task's exporter does but keep fp32 weights; returns the module exported (the one
    # whose outputs match the graph's: generation wraps its network)
    export_fp32: Callable[[torch.nn.Module, ModelCard, Path], torch.nn.Module]
    # the card's metrics measured again with onnxruntime for the model file in a folder, on the card's split
    measure: Callable[[ModelCard, Path, str | None], ModelCard]
    # a brought model's vocabulary size from its tokenizer file, checked against its outputs; 0: no vocabulary
    vocabulary_size: Callable[[Path | None, list[TensorSpec]], int] = no_vocabulary
