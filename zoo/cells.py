"""One time step of each recurrent cell, in numpy: the equations that nn.RNN, nn.LSTM and nn.GRU (and the ONNX
RNN, LSTM and GRU ops every zoo model runs) compute, written out to be read. The zoo serves the native ops;
this module is for learning (zoo/docs/how-a-recurrent-step-works.md walks through it line by line) and for an
independent reference: tests check it against torch and against shipped ONNX files, and it computes the
parity vectors of models built outside torch (zoo/docs/bring-your-own-model.md).

Weights use PyTorch's layout, one Layer per stacked layer: w_ih (G*H, E), w_hh (G*H, H), b_ih and b_hh (G*H,),
with the G gate blocks stacked in PyTorch's order (LSTM: input, forget, candidate, output; GRU: reset,
update, candidate). ONNX stores the same numbers in another order (LSTM: input, output, forget, candidate;
GRU: update, reset, candidate): see onnx_gate_order.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

import numpy as np

GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # G: blocks stacked in each weight matrix
# For each cell, the PyTorch block found at each ONNX position (ONNX LSTM is iofc, GRU zrh).
ONNX_FROM_TORCH = {"rnn": [0], "lstm": [0, 3, 1, 2], "gru": [1, 0, 2]}


@dataclass
class Layer:
    w_ih: np.ndarray  # (G*H, E) input -> gates
    w_hh: np.ndarray  # (G*H, H) previous hidden state -> gates
    b_ih: np.ndarray  # (G*H,)
    b_hh: np.ndarray  # (G*H,)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # = 1 / (1 + exp(-x)), without overflow for large |x|


def rnn_step(x: np.ndarray, h: np.ndarray, layer: Layer) -> np.ndarray:
    # x (B, E), h (B, H) -> new h (B, H)
    # The whole memory is rewritten every step, through a tanh: a gradient flowing back through T steps is
    # multiplied by T Jacobians diag(1 - h^2) @ w_hh, and shrinks geometrically when their norm is below 1.
    return np.tanh(x @ layer.w_ih.T + layer.b_ih + h @ layer.w_hh.T + layer.b_hh)


def lstm_step(x: np.ndarray, h: np.ndarray, c: np.ndarray, layer: Layer) -> tuple[np.ndarray, np.ndarray]:
    # x (B, E), h (B, H), c (B, H) -> new h (B, H), new c (B, H)
    gates = x @ layer.w_ih.T + layer.b_ih + h @ layer.w_hh.T + layer.b_hh  # (B, 4H), all four gates at once
    i, f, g, o = np.split(gates, 4, axis=-1)  # (B, H) each
    input_gate = sigmoid(i)  # how much of the candidate to write, per unit, in (0, 1)
    forget_gate = sigmoid(f)  # how much of the old cell state to keep
    candidate = np.tanh(g)  # what could be written, in (-1, 1)
    output_gate = sigmoid(o)  # how much of the cell state to show as h
    # The cell state is updated by addition, not rewritten: with the forget gate near 1, dc_t/dc_{t-1} is
    # near 1 and the gradient crosses many steps without vanishing.
    c = forget_gate * c + input_gate * candidate
    h = output_gate * np.tanh(c)
    return h, c


def gru_step(x: np.ndarray, h: np.ndarray, layer: Layer) -> np.ndarray:
    # x (B, E), h (B, H) -> new h (B, H)
    gx = x @ layer.w_ih.T + layer.b_ih  # (B, 3H) the input's share of reset, update, candidate
    gh = h @ layer.w_hh.T + layer.b_hh  # (B, 3H) the previous state's share
    rx, zx, nx = np.split(gx, 3, axis=-1)
    rh, zh, nh = np.split(gh, 3, axis=-1)
    reset = sigmoid(rx + rh)  # how much of the previous state the candidate may read
    update = sigmoid(zx + zh)  # how much of the previous state to keep as it is
    # PyTorch applies the reset gate after the recurrent matrix product (ONNX: linear_before_reset=1).
    candidate = np.tanh(nx + reset * nh)
    # One gate does the LSTM's forget and input work: keep `update`, write 1 - update. Like the LSTM's
    # cell state, h is interpolated, not rewritten, so gradients survive where update is near 1.
    return (1.0 - update) * candidate + update * h


def run(cell: str, inputs: np.ndarray, layers: list[Layer],
        state: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """inputs (B, T, E), state (h,) or (h, c) of (L, B, H) (zeros if None) -> outputs (B, T, H) of the last
    layer, and the state after the last step: what zoo.models.RecurrentCore returns."""
    if cell not in GATES:
        raise ValueError(f"unknown cell {cell!r}; cells are {sorted(GATES)}")
    batch, hidden = inputs.shape[0], layers[0].w_hh.shape[1]
    if state is None:
        zeros = np.zeros((len(layers), batch, hidden), dtype=inputs.dtype)
        state = (zeros, zeros.copy()) if cell == "lstm" else (zeros,)
    h_out, c_out = [], []
    sequence = inputs
    for index, layer in enumerate(layers):  # each layer reads the whole output sequence of the one below
        h = state[0][index]
        c = state[1][index] if cell == "lstm" else None
        outputs = []
        for t in range(sequence.shape[1]):
            x = sequence[:, t]
            if cell == "lstm":
                h, c = lstm_step(x, h, c, layer)
            elif cell == "gru":
                h = gru_step(x, h, layer)
            else:
                h = rnn_step(x, h, layer)
            outputs.append(h)
        sequence = np.stack(outputs, axis=1)  # (B, T, H)
        h_out.append(h)
        c_out.append(c)
    new_state = (np.stack(h_out), np.stack(c_out)) if cell == "lstm" else (np.stack(h_out),)
    return sequence, new_state


def layers_from_state_dict(state_dict: Mapping[str, np.ndarray], prefix: str = "") -> list[Layer]:
    """Layers from a torch recurrent module's state_dict (as numpy arrays): weight_ih_l0, weight_hh_l0, ..."""
    layers, k = [], 0
    while f"{prefix}weight_ih_l{k}" in state_dict:
        layers.append(Layer(*(np.asarray(state_dict[f"{prefix}{name}_l{k}"], dtype=np.float32)
                              for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))))
        k += 1
    if not layers:
        raise KeyError(f"no {prefix}weight_ih_l0 in the state dict; keys: {sorted(state_dict)[:8]}...")
    return layers


def onnx_gate_order(cell: str, matrix: np.ndarray) -> np.ndarray:
    """A (G*H, ...) PyTorch-ordered weight or bias -> the same rows in the ONNX op's gate order."""
    blocks = np.split(matrix, GATES[cell], axis=0)
    return np.concatenate([blocks[i] for i in ONNX_FROM_TORCH[cell]], axis=0)
