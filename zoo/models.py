"""The torch building blocks every task's network shares. Only training, export and tests import torch
(serving is ONNX); each task's network lives in zoo/tasks/<task>/network.py."""
from __future__ import annotations

import torch
from torch import nn

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# Dimension legend used in shape comments: B batch, T time steps, E input width, H hidden size, L layers.


class RecurrentCore(nn.Module):
    """One unidirectional recurrent stack for all three cells, batch-first, with explicit state.

    State is a tuple: (h,) for rnn/gru and (h, c) for lstm, each (L, B, H). Passing state=None
    starts a fresh sequence (zeros), which the ONNX exporter turns into an absent initial_h.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; cells are {sorted(CELLS)}")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        weight = next(self.parameters())
        zeros = weight.new_zeros(self.num_layers, batch_size, self.hidden_size)
        return (zeros, zeros.clone()) if self.cell == "lstm" else (zeros,)

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None):
        # inputs (B, T, E) -> outputs (B, T, H), state tuple of (L, B, H)
        if state is None:
            outputs, new_state = self.rnn(inputs)
        elif self.cell == "lstm":
            outputs, new_state = self.rnn(inputs, state)
        else:
            outputs, new_state = self.rnn(inputs, state[0])
        return outputs, (new_state if isinstance(new_state, tuple) else (new_state,))


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first `lengths` steps and leave its right padding in place.

    The backward direction reads the reversed sequence, so it sees the real tokens first and the
    padding last: its outputs at real positions do not depend on how much padding a batch has.
    Applying it twice is the identity.
    """
    B, T = x.shape[0], x.shape[1]
    steps = torch.arange(T, device=x.device).unsqueeze(0).expand(B, T)  # (B, T)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    index = torch.where(steps <= last, last - steps, steps)  # (B, T)
    return torch.gather(x, 1, index.unsqueeze(-1).expand_as(x))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
