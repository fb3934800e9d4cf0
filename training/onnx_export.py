"""What every exporter shares: torch.onnx's TorchScript exporter at one opset with named inputs, outputs and
dynamic axes, fp16 weight storage (and the matching rounding of the torch model for parity), and the
hardware line of a card."""
from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from training.checkpoints import build_model
from zoo.artifacts import cpu_name
from zoo.cards import Export, TrainingRun, sha256_of

OPSET = 17
EXPORTER = f"torch.onnx TorchScript exporter, torch {torch.__version__}"  # the cards' export.exporter
FP16_SUFFIX = "_fp16"  # store_weights_fp16 renames what it shrinks


def export_graph(module: torch.nn.Module, sample: tuple, path: Path, input_names: list[str], output_names: list[str],
                 dynamic_axes: dict[str, dict[int, str]], fp16: bool = False) -> None:
    """Export `module` called on `sample` to `path`, optionally with fp16-stored weights, and check the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(module, sample, str(path), dynamo=False, opset_version=OPSET, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes)
    if fp16:
        store_weights_fp16(path)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)


@torch.no_grad()
def round_weights_fp16(model: torch.nn.Module) -> None:
    """The file stores weights in fp16 to keep models small; rounding the torch model the same way lets
    the parity check compare like with like. The effect on quality is measured on the card."""
    for parameter in model.parameters():
        parameter.copy_(parameter.half().to(parameter.dtype))


def rebuild_step_graph(checkpoint: dict, wrapper: type[torch.nn.Module]) -> torch.nn.Module:
    """A checkpoint's network, weights rounded to fp16, inside its task's exported signature (`wrapper`),
    in eval mode. eval() on the wrapper, not only the network: the exporter restores the wrapper's mode
    afterwards, recursively, and a wrapper left in training mode would switch dropout back on for the parity
    check."""
    model = build_model(checkpoint)
    round_weights_fp16(model)
    return wrapper(model).eval()


def state_names(cell: str) -> tuple[list[str], list[str]]:
    """A step graph's state tensors in and out: h0, c0 -> hN, cN for an LSTM; h0 -> hN otherwise."""
    return (["h0", "c0"], ["hN", "cN"]) if cell == "lstm" else (["h0"], ["hN"])


def store_weights_fp16(path: Path, min_elements: int = 1024) -> None:
    """Store large fp32 initializers as fp16 followed by a Cast; onnxruntime folds the Casts at load,
    so inference still runs in fp32 and only the file shrinks."""
    model = onnx.load(str(path))
    casts = []
    for initializer in model.graph.initializer:
        if initializer.data_type != onnx.TensorProto.FLOAT or np.prod(initializer.dims) < min_elements:
            continue
        name = initializer.name
        half = numpy_helper.to_array(initializer).astype(np.float16)
        initializer.CopyFrom(numpy_helper.from_array(half, f"{name}{FP16_SUFFIX}"))
        casts.append(helper.make_node("Cast", [f"{name}{FP16_SUFFIX}"], [name], to=onnx.TensorProto.FLOAT,
                                      name=f"{name}_to_fp32"))
    for node in reversed(casts):
        model.graph.node.insert(0, node)
    onnx.save(model, str(path))


def share_transposed_weights(path: Path, min_elements: int = 1024) -> int:
    """Replace each initializer that is another one transposed by a Transpose node reading that one; returns how
    many were replaced. Why: a tied output layer (x @ E.T, E the embedding table) exports the transposed table as a
    second constant, doubling the file's largest tensor; onnxruntime folds the Transpose once at load instead."""
    model = onnx.load(str(path))
    arrays = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    by_shape = {}
    for name, array in arrays.items():
        if array.ndim == 2 and array.size >= min_elements:
            by_shape.setdefault(array.shape, []).append(name)
    replaced = []
    for name, array in arrays.items():
        if array.ndim != 2 or array.size < min_elements or name in replaced:
            continue
        for other in by_shape.get(array.shape[::-1], []):
            if other != name and other not in replaced and name not in replaced and np.array_equal(arrays[other].T, array):
                replaced.append(name)
                model.graph.node.insert(0, helper.make_node("Transpose", [other], [name], perm=[1, 0],
                                                            name=f"{name}_shared_transpose"))
                break
    for init in [i for i in model.graph.initializer if i.name in replaced]:
        model.graph.initializer.remove(init)
    onnx.save(model, str(path))
    return len(replaced)


def hardware() -> str:
    return f"{cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}"


def export_record(model_path: Path, parity_max_abs_diff: float, parity_tolerance: float) -> Export:
    """The card's `export` section for the file just written (the parity vectors are added by from_torch)."""
    return Export(onnx_file=model_path.name, sha256=sha256_of(model_path), opset=OPSET, exporter=EXPORTER,
                  parity_max_abs_diff=parity_max_abs_diff, parity_tolerance=parity_tolerance,
                  size_bytes=model_path.stat().st_size)


def training_record(checkpoint: dict, name: str, command: str, script: str, epochs: int | None = None,
                    **config) -> TrainingRun:
    """The card's `training` section from a checkpoint: wall time, this machine, the seed, the command run (the
    script's plain one for `name` when none was recorded), its config with `config` added, and `epochs` (by
    default the iterations the run made)."""
    return TrainingRun(seconds=round(checkpoint["train_seconds"], 1), hardware=hardware(),
                       epochs=checkpoint["iterations_run"] if epochs is None else epochs,
                       seed=checkpoint["config"]["seed"], command=command or f"python -m {script} --model {name}",
                       config={**checkpoint["config"], **config})
