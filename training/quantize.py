"""Shipped fp32 model -> int8 variant (onnxruntime dynamic quantization), re-measured on the card's split and
shipped only within the stated tolerance of its source.

    python -m training.quantize sst2-lstm shakespeare-lstm      # writes zoo/artifacts/<name>-int8/

Dynamic quantization stores the weights of LSTM, MatMul and Gemm nodes as int8 and quantizes activations
per call; onnxruntime has int8 kernels for LSTM but not for GRU or RNN, whose recurrent weights stay fp32.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from training.parity_vectors import from_fp32_source
from training.tasks import TRAINING_TASKS
from zoo.artifacts import ARTIFACTS_DIR, create_session
from zoo.cards import MODEL_FILE, ModelCard, Quantization, sha256_of
from zoo.checks import example_inputs
from zoo.registry import get_task

QUANTIZED_OPS = ["LSTM", "MatMul", "Gemm"]
SUFFIX = "-int8"
PARITY_TOLERANCE = 0.5  # max |int8 - fp32| over raw outputs (logits, scaled quantiles); the metric is the gate


def fp32_weights_for(model: onnx.ModelProto, op_types: list[str]) -> onnx.ModelProto:
    """Undo training.onnx_export.store_weights_fp16 for the weights the quantizer must see as constants (those
    behind a Cast into a quantizable op); other fp16 tables (the embedding) stay fp16."""
    consumers = {name for node in model.graph.node if node.op_type in op_types for name in node.input}
    casts = {node.output[0]: node for node in model.graph.node
             if node.op_type == "Cast" and node.output[0] in consumers}
    initializers = {init.name: init for init in model.graph.initializer}
    for output, cast in casts.items():
        source = initializers.get(cast.input[0])
        if source is None:
            continue
        weights = numpy_helper.to_array(source).astype(np.float32)
        model.graph.initializer.remove(source)
        model.graph.initializer.append(numpy_helper.from_array(weights, output))
        model.graph.node.remove(cast)
    return model


def quantize_file(source: Path, target: Path) -> None:
    model = fp32_weights_for(onnx.load(str(source)), QUANTIZED_OPS)
    with tempfile.TemporaryDirectory() as scratch:
        fp32 = Path(scratch) / "fp32.onnx"
        onnx.save(model, str(fp32))
        # The quantizer logs a hint about shape pre-processing on the root logger; these graphs have
        # their weights folded already (TorchScript exporter), which is what the hint is about.
        root = logging.getLogger()
        level, root.level = root.level, logging.ERROR
        try:
            quantize_dynamic(str(fp32), str(target), weight_type=QuantType.QInt8,
                             op_types_to_quantize=QUANTIZED_OPS)
        finally:
            root.level = level


def output_difference(source_dir: Path, target: Path, card: ModelCard, seed: int = 0) -> float:
    """Max |int8 - fp32| over every output, on random inputs of batch 4 and length 13."""
    feeds = example_inputs(card, batch=4, steps=13, rng=np.random.default_rng(seed))
    providers = ["CPUExecutionProvider"]
    reference = create_session((source_dir / MODEL_FILE).read_bytes(), providers).run(None, feeds)
    quantized = create_session(target.read_bytes(), providers).run(None, feeds)
    return float(max(np.abs(a - b).max() for a, b in zip(reference, quantized)))


def int8_limitation(source: str) -> str:
    return f"int8 variant of {source}: weights rounded to 8 bits; quality measured below, against {source}'s on the same split"


def quantize(name: str, artifacts_dir: Path = ARTIFACTS_DIR, data_dir: str | None = None) -> ModelCard:
    source_dir = Path(artifacts_dir) / name
    source = ModelCard.load(source_dir)
    if source.graphs:  # a translator: its encoder and vocabularies would need quantizing and copying too
        raise SystemExit(f"{name} has {len(source.graphs) + 1} graphs; this quantizes single-graph models only")
    target_dir = Path(artifacts_dir) / f"{name}{SUFFIX}"
    if target_dir.exists():
        shutil.rmtree(target_dir)
    target_dir.mkdir(parents=True)
    if source.preprocessing.tokenizer_file:
        shutil.copy(source_dir / source.preprocessing.tokenizer_file, target_dir)
    quantize_file(source_dir / MODEL_FILE, target_dir / MODEL_FILE)

    card = ModelCard.from_dict(source.to_dict())
    card.name = f"{name}{SUFFIX}"
    card.summary = f"{source.summary}; int8 weights (dynamic quantization of {', '.join(QUANTIZED_OPS)})"
    card.figures = []  # the source's plots show the source's numbers
    card.export = dataclasses.replace(
        card.export, sha256=sha256_of(target_dir / MODEL_FILE), size_bytes=(target_dir / MODEL_FILE).stat().st_size,
        exporter=f"{source.export.exporter}, then onnxruntime.quantization.quantize_dynamic (QInt8)",
        parity_max_abs_diff=output_difference(source_dir, target_dir / MODEL_FILE, source),
        parity_tolerance=PARITY_TOLERANCE)
    card = from_fp32_source(target_dir, card, source_dir)  # saves the card with its parity vectors
    # the card's metrics, for the int8 file (some tasks' measures rewrite the limitations from them)
    card = TRAINING_TASKS[source.task].measure(card, target_dir, data_dir)
    card.limitations = [int8_limitation(name)] + card.limitations
    task = get_task(source.task)
    metric = task.headline_metric  # allowed to get worse by the task's int8 tolerance, no more
    ok, tolerance = task.within_int8_tolerance(source.metric(metric).value, card.metric(metric).value)
    card.quantization = Quantization(
        source=name, method="onnxruntime dynamic quantization, per-tensor int8 weights, uint8 activations",
        quantized_ops=QUANTIZED_OPS, metric=metric, source_value=source.metric(metric).value,
        value=card.metric(metric).value, tolerance=round(tolerance, 6), within_tolerance=ok)
    card.save(target_dir)
    print(f"{card.name}: {metric} {card.metric(metric).value:.6f} vs {source.metric(metric).value:.6f} "
          f"(tolerance {tolerance:.4g}: {'within' if ok else 'OUTSIDE'}), output diff {card.export.parity_max_abs_diff:.3g}, "
          f"{card.export.size_bytes / 1e6:.2f} MB vs {source.export.size_bytes / 1e6:.2f} MB")
    return card


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="shipped fp32 models to quantize")
    parser.add_argument("--artifacts-dir", type=Path, default=ARTIFACTS_DIR)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--keep-outside-tolerance", action="store_true",
                        help="keep a variant that misses its tolerance (default: delete it)")
    args = parser.parse_args()
    for name in args.models:
        card = quantize(name, args.artifacts_dir, args.data_dir)
        if not card.quantization.within_tolerance and not args.keep_outside_tolerance:
            shutil.rmtree(args.artifacts_dir / card.name)
            print(f"{card.name}: removed (outside tolerance)")


if __name__ == "__main__":
    main()
