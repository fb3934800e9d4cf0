"""The piano-roll model (torch) and its exported step signature.

Dimension legend: B batch, T frames, K keys (88), L layers, H hidden size."""
from __future__ import annotations

import torch
from torch import nn

from zoo.models import RecurrentCore


class PianoRollModel(nn.Module):
    """Frames 1..t (88 keys each, 0/1) -> recurrent core -> the keys of frame t+1.

    With `joint_keys` the keys of a frame are modelled jointly, lowest first: key k's logit is the state's
    logit plus a learned linear function of the keys below it in the same frame (a fully visible sigmoid
    belief net conditioned on the state), so "this bass note, therefore that third" can be learned. The NLL
    stays exact: the product of 88 conditional Bernoullis. Without it each key is an independent sigmoid
    given the state, as in Chung et al. (2014); the coupling is then zero.

    The state is an input and an output, so generation feeds one frame plus the carried state. A piece is
    read after an all-silent start frame, so its first frame is predicted from the initial state.
    """

    def __init__(self, cell: str, hidden_size: int, num_layers: int, dropout: float, keys: int = 88,
                 input_dropout: float = 0.0, joint_keys: bool = False):
        super().__init__()
        self.keys, self.joint_keys = keys, joint_keys
        self.input_dropout = nn.Dropout(input_dropout)  # drops notes heard, so the model cannot only copy them
        self.core = RecurrentCore(cell, keys, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, keys)
        # coupling[k, j]: how key j (below k, same frame) moves key k's logit. Strictly lower triangular: it
        # starts at zero and its gradient is masked, so the weights above the diagonal stay exactly zero and
        # the graph can return the weight itself (training.from_onnx maps a file's weights back by them).
        self.coupling = nn.Parameter(torch.zeros(keys, keys), requires_grad=joint_keys)
        self.register_buffer("below", torch.ones(keys, keys, dtype=torch.bool).tril(-1), persistent=False)
        if joint_keys:
            self.coupling.register_hook(lambda gradient: gradient * self.below)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        return self.core.initial_state(batch_size)

    def key_coupling(self) -> torch.Tensor:
        return self.coupling  # (K, K) strictly lower triangular

    def forward(self, frames: torch.Tensor, state: tuple[torch.Tensor, ...]):
        # frames (B, T, K) float 0/1, state tuple of (L, B, H) -> logits (B, T, K) given the state alone, new state
        outputs, new_state = self.core(self.input_dropout(frames), state)  # (B, T, H)
        return self.head(self.dropout(outputs)), new_state

    def conditional_logits(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        # logits (B, T, K) from forward, targets (B, T, K) the frames they predict -> key k's logit given the
        # state and keys 0..k-1 of its frame (B, T, K)
        return logits + targets @ self.key_coupling().T


class StepGraph(nn.Module):
    """The exported signature: frames, h0 (, c0) -> logits, key_coupling, hN (, cN), as plain named tensors."""

    def __init__(self, model: PianoRollModel):
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor, *state: torch.Tensor):
        logits, new_state = self.model(frames, tuple(state))
        return (logits, self.model.key_coupling().detach(), *new_state)  # a weight, returned as it is
