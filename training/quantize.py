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
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from training.data import load_physionet, load_stocks, load_tinyshakespeare
from training.export import evaluate_sentiment
from training.export_charlm import SAMPLE, write_sample
from training.export_stock import evaluate as evaluate_stock
from training.export_vitals import evaluate as evaluate_vitals
from training.train_stock import make_windows
from training.parity import from_fp32_source
from zoo.cards import MODEL_FILE, ModelCard, Quantization, sha256_of
from zoo.artifacts import create_session, ARTIFACTS_DIR
from zoo.checks import example_inputs
from zoo.tasks.forecasting.predictor import ForecastingPredictor
from zoo.tasks.generation.predictor import GenerationPredictor
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import parse_record_text

QUANTIZED_OPS = ["LSTM", "MatMul", "Gemm"]
SUFFIX = "-int8"
# (headline metric, higher is better, allowed change in the worse direction; relative for pinball loss)
TOLERANCES = {
    "sentiment": ("accuracy", True, 0.005),
    "generation": ("validation_loss_nats_per_char", False, 0.01),
    "vitals": ("mortality_auroc", True, 0.005),
    "forecasting": ("pinball_loss", False, 0.01),  # +1% of the source's loss
}
PARITY_TOLERANCE = 0.5  # max |int8 - fp32| over raw outputs (logits, scaled quantiles); the metric is the gate


def fp32_weights_for(model: onnx.ModelProto, op_types: list[str]) -> onnx.ModelProto:
    """Undo training.export.store_weights_fp16 for the weights the quantizer must see as constants (those
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


def measure(card: ModelCard, directory: Path, data_dir: str | None) -> ModelCard:
    """The card's metrics again, for the file in `directory` (baselines are the same split's)."""
    providers = ["CPUExecutionProvider"]
    if card.task == "sentiment":
        card.metrics = evaluate_sentiment(directory, data_dir)
    elif card.task == "generation":
        generator = GenerationPredictor(directory, providers)
        loss = generator.nats_per_char(load_tinyshakespeare("validation", data_dir))
        for metric in card.metrics:
            metric.value = round(loss if metric.name.endswith("nats_per_char") else loss / math.log(2), 6)
        card.samples = [write_sample(generator, **SAMPLE)]
    elif card.task == "forecasting":
        series = load_stocks()
        card.metrics = evaluate_stock(ForecastingPredictor(directory, providers), series, make_windows(series, "test")).metrics
    elif card.task == "vitals":
        train, test = load_physionet("set-a", data_dir), load_physionet("set-b", data_dir)
        card.metrics = evaluate_vitals(
            VitalsPredictor(directory, providers), [parse_record_text(s.record_text) for s in train],
            np.array([s.died for s in train]), [parse_record_text(s.record_text) for s in test],
            np.array([s.died for s in test]), np.array([s.saps1 for s in test])).metrics
    return card


def within(task: str, source_value: float, value: float) -> tuple[bool, float]:
    metric, higher_is_better, tolerance = TOLERANCES[task]
    if task == "forecasting":
        tolerance = tolerance * source_value
    worse_by = (source_value - value) if higher_is_better else (value - source_value)
    return worse_by <= tolerance + 1e-12, tolerance


def quantize(name: str, artifacts_dir: Path = ARTIFACTS_DIR, data_dir: str | None = None) -> ModelCard:
    source_dir = Path(artifacts_dir) / name
    source = ModelCard.load(source_dir)
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
    card.limitations = [f"int8 variant of {name}: weights rounded to 8 bits; quality measured below, against "
                        f"{name}'s on the same split"] + source.limitations
    card = from_fp32_source(target_dir, card, source_dir)  # saves the card with its parity vectors
    card = measure(card, target_dir, data_dir)
    metric = TOLERANCES[source.task][0]
    ok, tolerance = within(source.task, source.metric(metric).value, card.metric(metric).value)
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
