"""The digit recogniser (torch) and its exported signatures: the streaming step graph of a unidirectional model, and
the whole-recording graph of a bidirectional one.

Dimension legend: B batch, S steps (30 ms each: three 10 ms frames), F features (3 x 40 log-mel bands; after the
frequency filters, filters x 20),
C classes (10 digits + blank), L layers, H hidden size (per direction)."""
from __future__ import annotations

import torch
from torch import nn

from zoo.models import RecurrentCore, reverse_within_length
from zoo.tasks.speech.audio import MEL_BANDS, STACK, STEP_FEATURES
from zoo.tasks.speech.ctc import CLASSES


class FrequencyFilters(nn.Module):
    """Filters slid along the mel bands of each step, shared by every band, then max-pooled over pairs of bands:
    (B, S, 3 x 40) -> (B, S, filters x 20). Why: a longer or shorter vocal tract moves a voice's formants up or down
    the bands; a filter shared across bands answers the same wherever the formant falls, and the pooling forgives
    a shift of a band (Abdel-Hamid et al. 2014, convolution along frequency for speaker variation). Each step is
    filtered alone, never across time, so the model still streams step by step."""

    def __init__(self, filters: int, width: int = 5):
        super().__init__()
        self.convolution = nn.Conv1d(STACK, filters, width, padding=width // 2)
        self.pool = nn.MaxPool1d(2)
        self.features = filters * (MEL_BANDS // 2)

    def forward(self, steps: torch.Tensor) -> torch.Tensor:
        batch, length, _ = steps.shape
        bands = steps.reshape(batch * length, STACK, MEL_BANDS)  # (B*S, 3 frames as channels, 40 bands)
        filtered = self.pool(torch.relu(self.convolution(bands)))  # (B*S, filters, 20)
        return filtered.reshape(batch, length, self.features)


class DigitRecognizer(nn.Module):
    """Steps of normalised log-mel frames -> filters along frequency (when `frequency_filters`; the shipped models
    have 16) -> recurrent layers -> per-step scores of the ten digits and the CTC blank.

    Unidirectional (the default) so that it can stream: step s's scores depend on steps 1..s only, and the state is
    an input and an output, so audio can arrive in chunks of any size. Bidirectional models read each layer's input
    both ways and concatenate the two (as nn.GRU(bidirectional=True) stacks its layers), so step s hears the whole
    recording: they serve whole uploads only. Each direction is its own one-layer core, the backward one reading
    each row reversed within its length, so a row's scores do not depend on the padding of a batch (packed
    sequences would do the same, but do not export to ONNX)."""

    def __init__(self, cell: str, hidden_size: int, num_layers: int, dropout: float, features: int = STEP_FEATURES,
                 classes: int = CLASSES, bidirectional: bool = False, frequency_filters: int = 0):
        super().__init__()
        self.bidirectional = bidirectional
        self.front = FrequencyFilters(frequency_filters) if frequency_filters else nn.Identity()
        features = self.front.features if frequency_filters else features
        self.dropout = nn.Dropout(dropout)
        if bidirectional:
            self.layers = nn.ModuleList(
                nn.ModuleList(RecurrentCore(cell, features if layer == 0 else 2 * hidden_size, hidden_size, 1, 0.0)
                              for _direction in range(2))
                for layer in range(num_layers))
        else:
            self.core = RecurrentCore(cell, features, hidden_size, num_layers, dropout)
        self.head = nn.Linear(2 * hidden_size if bidirectional else hidden_size, classes)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        return () if self.bidirectional else self.core.initial_state(batch_size)

    def forward(self, features: torch.Tensor, state: tuple[torch.Tensor, ...], lengths: torch.Tensor | None = None):
        # features (B, S, F), state tuple of (L, B, H) (empty when bidirectional), lengths (B,) of the real steps
        # (only read when bidirectional; None: every row is S long) -> logits (B, S, C), new state
        features = self.front(features)  # (B, S, F'): filtered along frequency, or as it came
        if not self.bidirectional:
            outputs, new_state = self.core(features, state)  # (B, S, H)
            return self.head(self.dropout(outputs)), new_state
        if lengths is None:
            lengths = torch.full(features.shape[:1], features.shape[1], dtype=torch.long)
        x = features
        for layer, (forward_core, backward_core) in enumerate(self.layers):
            x = self.dropout(x) if layer else x
            forward, _ = forward_core(x)  # (B, S, H)
            backward, _ = backward_core(reverse_within_length(x, lengths))  # reads each row from its end
            x = torch.cat([forward, reverse_within_length(backward, lengths)], dim=-1)  # (B, S, 2H)
        return self.head(self.dropout(x)), ()


class StepGraph(nn.Module):
    """The exported signature of a streaming model: features, h0 (, c0) -> logits, hN (, cN), as plain named
    tensors."""

    def __init__(self, model: DigitRecognizer):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, *state: torch.Tensor):
        logits, new_state = self.model(features, tuple(state))
        return (logits, *new_state)


class WholeGraph(nn.Module):
    """The exported signature of a bidirectional model: features (B, S, F), lengths (B,) int64 -> logits (B, S, C).
    No state: a bidirectional model needs the whole recording."""

    def __init__(self, model: DigitRecognizer):
        super().__init__()
        self.model = model

    def forward(self, features: torch.Tensor, lengths: torch.Tensor):
        logits, _ = self.model(features, (), lengths)
        return logits
