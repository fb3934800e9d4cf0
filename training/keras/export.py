"""Keras 3 layers -> the torch modules that compute the same function -> ONNX, plus the parity vectors from
Keras' own model.predict and the training.bring_your_own command that brings the file into the zoo.

Why not Keras' own `model.export(path, format="onnx")`: on the torch backend (Keras 3.15, torch 2.13) it traces
the LSTM's Python loop over time steps, so the graph has no LSTM node and only as many steps as the sample had
(one, for a dynamic length), and it answers wrongly for longer inputs. On the TensorFlow backend it goes through
tf2onnx and does give a native LSTM node, at the cost of a TensorFlow install. Here the recurrent layer is
rebuilt as nn.LSTM / nn.GRU, which torch's exporter writes as the native ONNX op, as for the zoo's own models.

What differs between Keras 3 and PyTorch, read from keras/src/layers/rnn/lstm.py and gru.py and checked by the
parity vectors:
- kernels are stored (input, G*H) and (H, G*H): PyTorch's (G*H, input) and (G*H, H) transposed;
- LSTM: the same gate order (Keras i, f, c, o is PyTorch's i, f, g, o) and one bias (4H,) where PyTorch adds
  two (b_ih + b_hh): b_ih gets the bias, b_hh zeros;
- GRU: Keras stacks z, r, h (update, reset, candidate: the ONNX op's order), PyTorch r, z, n. With
  reset_after=True (the default) its bias is (2, 3H), row 0 for the input, row 1 for the recurrent product, and
  the reset gate scales the recurrent product after the matrix product, as PyTorch does (ONNX
  linear_before_reset=1). reset_after=False applies it before the product, which nn.GRU cannot express.
"""
from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import keras
import numpy as np
import onnx
import torch
from torch import nn

from training.onnx_export import EXPORTER as TORCH_EXPORTER
from training.onnx_export import OPSET, export_graph
from zoo.checks import save_parity_vectors

# For each cell, the Keras gate block found at each of PyTorch's positions (LSTM ifco = ifgo; GRU zrh -> rzn).
TORCH_FROM_KERAS = {"LSTM": [0, 1, 2, 3], "GRU": [1, 0, 2]}
EXPORTER = f"keras {keras.__version__} layers as torch modules (training.keras.export), {TORCH_EXPORTER}, opset {OPSET}"
PARITY_SOURCE = f"keras {keras.__version__} model.predict ({keras.backend.backend()} backend)"


def script_arguments(description: str, cell: str) -> argparse.ArgumentParser:
    """The flags both scripts of the track take; each adds its own (steps or epochs, sizes)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for model.onnx and parity.npz")
    parser.add_argument("--cell", choices=["lstm", "gru"], default=cell)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--threads", type=int, default=2)
    return parser


def _torch_gate_order(kind: str, matrix: np.ndarray) -> np.ndarray:
    """A (G*H, ...) array with its gate blocks in Keras' order -> the same rows in PyTorch's order."""
    blocks = np.split(matrix, len(TORCH_FROM_KERAS[kind]), axis=0)
    return np.concatenate([blocks[i] for i in TORCH_FROM_KERAS[kind]], axis=0)


def recurrent(layer: keras.layers.Layer) -> nn.LSTM | nn.GRU:
    """A keras.layers.LSTM or GRU as a one-layer, batch-first nn.LSTM or nn.GRU holding the same weights."""
    kind = type(layer).__name__
    if kind not in TORCH_FROM_KERAS:
        raise ValueError(f"{layer.name} is a {kind}; convertible recurrent layers: {sorted(TORCH_FROM_KERAS)}")
    activations = (keras.activations.serialize(layer.activation), keras.activations.serialize(layer.recurrent_activation))
    problems = [f"activations {activations}, not ('tanh', 'sigmoid')"] if activations != ("tanh", "sigmoid") else []
    problems += ["use_bias=False"] if not layer.use_bias else []
    problems += ["go_backwards=True"] if layer.go_backwards else []
    problems += ["reset_after=False (nn.GRU applies the reset gate after the product)"] \
        if kind == "GRU" and not layer.reset_after else []
    if problems:
        raise ValueError(f"{layer.name} ({kind}) cannot become a torch nn.{kind}: {'; '.join(problems)}")
    kernel, recurrent_kernel, bias = layer.get_weights()  # (E, G*H), (H, G*H), (G*H,) or GRU's (2, G*H)
    bias_ih, bias_hh = (bias, np.zeros_like(bias)) if kind == "LSTM" else bias
    module = getattr(nn, kind)(kernel.shape[0], layer.units, batch_first=True)
    weights = {"weight_ih_l0": kernel.T, "weight_hh_l0": recurrent_kernel.T, "bias_ih_l0": bias_ih, "bias_hh_l0": bias_hh}
    module.load_state_dict({name: torch.from_numpy(np.ascontiguousarray(_torch_gate_order(kind, value)))
                            for name, value in weights.items()})
    return module.eval()


def dense(layer: keras.layers.Dense) -> nn.Linear:
    kernel, bias = layer.get_weights()  # (in, out), (out,)
    if keras.activations.serialize(layer.activation) != "linear":
        raise ValueError(f"{layer.name}: a Dense layer with activation {layer.activation.__name__}; keep it linear")
    module = nn.Linear(*kernel.shape)
    module.load_state_dict({"weight": torch.from_numpy(np.ascontiguousarray(kernel.T)), "bias": torch.from_numpy(bias)})
    return module.eval()


def embedding(layer: keras.layers.Embedding) -> nn.Embedding:
    (table,) = layer.get_weights()  # (V, E)
    return nn.Embedding.from_pretrained(torch.from_numpy(table), freeze=True)


def export(module: nn.Module, sample: tuple[np.ndarray, ...], path: Path, input_names: list[str],
           output_names: list[str], dynamic_axes: dict[str, dict[int, str]]) -> None:
    """`module` (the Keras model rebuilt from the functions above) -> ONNX at `path`, with the zoo's exporter
    settings (training.onnx_export); the sample's sizes should differ from the parity vectors'.

    torch's exporter gives up on an output size it cannot follow through a reshape (forecasting's 5 horizons
    become "TopKquantiles_dim_1"), and a brought model's card states what its graph declares; ONNX's own shape
    inference follows it, so the outputs' shapes are declared again from that, the dynamic axes named."""
    with torch.no_grad():
        export_graph(module.eval(), tuple(torch.from_numpy(x) for x in sample), path, input_names, output_names,
                     dynamic_axes)
    model = onnx.load(str(path))
    for output in model.graph.output:
        output.type.tensor_type.ClearField("shape")
    model = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    for output in model.graph.output:
        for axis, name in dynamic_axes.get(output.name, {}).items():
            output.type.tensor_type.shape.dim[axis].dim_param = name
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))


def write_parity(model: keras.Model, inputs: dict[str, np.ndarray], path: Path) -> dict[str, np.ndarray]:
    """Parity vectors: `inputs` and what Keras' model.predict computes for them, both named as the task's contract
    names them (the model's inputs are named so, and it returns a dict keyed by output name)."""
    ordered = [inputs[tensor.name] for tensor in model.inputs]
    outputs = model.predict(ordered if len(ordered) > 1 else ordered[0], verbose=0)
    if not isinstance(outputs, dict):
        raise TypeError(f"{model.name} returns {type(outputs).__name__}; build it with a dict of named outputs")
    save_parity_vectors(path, inputs, outputs)
    return outputs


def bring_arguments(out: Path, task: str, name: str, trained_on: str, extra: list[str]) -> list[str]:
    """The arguments of `python -m training.bring_your_own` for the model.onnx and parity.npz in `out`."""
    return ["--onnx", str(out / "model.onnx"), "--task", task, "--name", name, "--parity", str(out / "parity.npz"),
            "--parity-source", PARITY_SOURCE, "--exporter", EXPORTER, "--trained-on", trained_on, *extra]


def print_bring_command(arguments: list[str]) -> None:
    print("bring it into the zoo (measures its card's metrics, checks parity):\n"
          "    python -m training.bring_your_own " + shlex.join(arguments))
