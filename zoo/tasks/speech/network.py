"""The digit recogniser (torch) and its exported step signature.

Dimension legend: B batch, S steps (30 ms each: three 10 ms frames), F features (3 x 40 log-mel bands),
C classes (10 digits + blank), L layers, H hidden size."""
from __future__ import annotations

import torch
from torch import nn

from zoo.models import RecurrentCore
from zoo.tasks.speech.audio import STEP_FEATURES
from zoo.tasks.speech.ctc import CLASSES


class DigitRecognizer(nn.Module):
    """Steps of normalised log-mel frames -> unidirectional recurrent core -> per-step scores of the ten digits
    and the CTC blank. Unidirectional so that it can stream: step s's scores depend on steps 1..s only, and the state
    is an input and an output, so audio can arrive in chunks of any size."""

    def __init__(self, cell: str, hidden_size: int, num_layers: int, dropout: float, features: int = STEP_FEATURES,
                 classes: int = CLASSES):
        super().__init__()
        self.core = RecurrentCore(cell, features, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, classes)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        return self.core.initial_state(batch_size)

    def forward(self, features: torch.Tensor, state: tuple[torch.Tensor, ...]):
        # features (B, S, F), state tuple of (L, B, H) -> logits (B, S, C), new state
        outputs, new_state = self.core(features, state)  # (B, S, H)
        return self.head(self.dropout(outputs)), new_state


class StepGraph(nn.Module):
    """The exported signature: features, h0 (, c0) -> logits, hN (, cN), as plain named tensors."""

    def __init__(self, model: DigitRecognizer):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, *state: torch.Tensor):
        logits, new_state = self.model(features, tuple(state))
        return (logits, *new_state)
