"""The character language model (torch) and its exported step signature.

Dimension legend: B batch, T characters, H hidden size, L layers, V vocabulary."""
from __future__ import annotations

import torch
from torch import nn

from zoo.models import RecurrentCore


class CharLanguageModel(nn.Module):
    """Characters -> embedding -> recurrent core -> next-character logits, with the state in and out,
    so generation feeds one character plus the carried state: O(1) work per new character."""

    def __init__(self, cell: str, vocab_size: int, embedding_dim: int, hidden_size: int,
                 num_layers: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.core = RecurrentCore(cell, embedding_dim, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        return self.core.initial_state(batch_size)

    def forward(self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]):
        # tokens (B, T) int64, state tuple of (L, B, H) -> logits (B, T, V), new state
        outputs, new_state = self.core(self.embedding(tokens), state)  # (B, T, H)
        return self.head(self.dropout(outputs)), new_state


class StepGraph(nn.Module):
    """The exported signature: tokens, h0 (, c0) -> logits, hN (, cN), as plain named tensors."""

    def __init__(self, model: CharLanguageModel):
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, *state: torch.Tensor):
        logits, new_state = self.model(tokens, tuple(state))
        return (logits, *new_state)
