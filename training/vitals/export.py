"""Vitals checkpoint -> ONNX -> parity check -> onnxruntime evaluation on PhysioNet 2012 set-b beside the
baselines (training/vitals/evaluation.py) -> model card and calibration plot.

    python -m training.vitals.export checkpoints/vitals-gru.pt
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.checkpoints import build_model, load_checkpoint
from training.cli import run_export
from training.onnx_export import export_graph, export_record, training_record
from training.parity_vectors import from_torch
from training.task import TrainingTask
from training.vitals.data import PHYSIONET_FILES, PHYSIONET_LICENSE, WEIGHTS_LICENSE, WEIGHTS_TERMS, load_physionet
from training.vitals.evaluation import Evaluation, evaluate
from zoo import get_spec
from zoo.artifacts import create_session
from zoo.cards import MODEL_FILE, Architecture, ModelCard, Preprocessing, TensorSpec, TrainingData
from zoo.models import parameter_count
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import (
    DESCRIPTORS,
    FEATURE_COUNT,
    HOURS,
    LIMITS,
    MAX_OBSERVATIONS,
    SERIES,
    SKEWED,
    VITALS,
    VitalsStatistics,
    features,
    parse_record_text,
)

PARITY_TOLERANCE = 1e-5
FIGURE_FILE = "calibration.png"


def state_names(model: torch.nn.Module) -> tuple[list[str], list[str]]:
    """The graph's state inputs and outputs: risk cores then forecast core; h, and c for lstm."""
    parts = ["h", "c"] if model.forecast_core.cell == "lstm" else ["h"]
    cores = [f"{core}_{part}" for core in ("risk", "forecast") for part in parts]
    return [f"{name}0" for name in cores], [f"{name}N" for name in cores]


def export_onnx(model: torch.nn.Module, path: Path) -> None:
    """features (B, T, F) and the state in -> risk (B, T), change (B, T, 5) and the state out; zeros in
    start a stay, so the one-shot path and sessions (which carry the state hour by hour) share one graph."""
    sample = torch.randn(2, 7, FEATURE_COUNT)
    state = tuple(s.normal_() for s in model.initial_state(2))  # not zeros: the exporter must keep them as inputs
    inputs, outputs = state_names(model)
    axes = {"features": {0: "batch", 1: "hours"}, "mortality_risk": {0: "batch", 1: "hours"},
            "vitals_change": {0: "batch", 1: "hours"}, **{name: {1: "batch"} for name in inputs + outputs}}
    export_graph(model, (sample, *state), path, input_names=["features", *inputs],
                 output_names=["mortality_risk", "vitals_change", *outputs], dynamic_axes=axes)


def export_fp32(model: torch.nn.Module, card: ModelCard, path: Path) -> torch.nn.Module:
    export_onnx(model, path)
    return model


def parity(model: torch.nn.Module, path: Path, inputs: np.ndarray) -> float:
    """Largest difference torch vs onnxruntime, from zeros and from a random state."""
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()][1:]
    worst = 0.0
    for seed in (None, 0):
        state = model.initial_state(len(inputs))
        if seed is not None:
            generator = torch.Generator().manual_seed(seed)
            state = tuple(torch.randn(s.shape, generator=generator) for s in state)
        onnx_out = session.run(None, {"features": inputs, **{n: s.numpy() for n, s in zip(names, state)}})
        with torch.no_grad():
            torch_out = model(torch.from_numpy(inputs), *state)
        worst = max(worst, *(float(np.abs(o - t.numpy()).max()) for o, t in zip(onnx_out, torch_out)))
    return worst


def state_specs(model: torch.nn.Module, suffix: str, description: str) -> list[TensorSpec]:
    inputs, outputs = state_names(model)
    names = inputs if suffix == "0" else outputs
    shapes = [list(s.shape) for s in model.initial_state(1)]
    return [TensorSpec(name, "float32", [shape[0], "batch", shape[2]], description) for name, shape in zip(names, shapes)]


def plot_calibration(evaluation: Evaluation, title: str, path: Path) -> None:
    """Reliability diagram: observed mortality against predicted risk, in ten equal-count bins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.8, 4.4))
    axis.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--", label="perfectly calibrated")
    for scores, label, colour in ((evaluation.risk, "model", "tab:blue"),
                                  (evaluation.logistic, "logistic regression", "tab:orange")):
        bins = np.array_split(np.argsort(scores), 10)
        axis.plot([scores[b].mean() for b in bins], [evaluation.died[b].mean() for b in bins], marker="o",
                  markersize=3, color=colour, label=label)
    axis.set_xlabel("predicted risk of in-hospital death (hour 48)")
    axis.set_ylabel("observed fraction who died")
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def export_vitals(checkpoint_path: Path, artifacts_dir: Path, data_dir: str | None, command: str = "") -> ModelCard:
    checkpoint = load_checkpoint(checkpoint_path)
    name, arguments, extras = checkpoint["model_name"], checkpoint["model_arguments"], checkpoint["extras"]
    out = Path(artifacts_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(checkpoint)
    export_onnx(model, out / MODEL_FILE)
    statistics = VitalsStatistics.from_dict(extras["statistics"])

    train_stays = load_physionet("set-a", data_dir)
    test_stays = load_physionet("set-b", data_dir)
    train_records = [parse_record_text(s.record_text) for s in train_stays]
    test_records = [parse_record_text(s.record_text) for s in test_stays]
    sample = np.stack([features(r, statistics, hours=31) for r in test_records[:9]])  # unlike the export sample
    difference = parity(model, out / MODEL_FILE, sample)
    if difference > PARITY_TOLERANCE:
        raise RuntimeError(f"{name}: parity torch vs onnxruntime {difference:.1e} (max {PARITY_TOLERANCE})")

    card = ModelCard(

        weights_license=WEIGHTS_LICENSE, weights_license_terms=WEIGHTS_TERMS,
        name=name, version="1.0.0", task="vitals", summary=get_spec(name).description,
        architecture=Architecture(cell=arguments["cell"], num_layers=arguments["num_layers"],
                                  hidden_size=arguments["hidden_size"], bidirectional=False, embedding_dim=0,
                                  vocab_size=0, parameter_count=parameter_count(model)),
        inputs=[TensorSpec("features", "float32", ["batch", "hours", FEATURE_COUNT],
                           "per variable: value carried forward, observed mask, hours since seen; then descriptors"),
                *state_specs(model, "0", "state before the first hour sent; zeros start a stay")],
        outputs=[TensorSpec("mortality_risk", "float32", ["batch", "hours"], "risk of in-hospital death after each hour"),
                 TensorSpec("vitals_change", "float32", ["batch", "hours", len(VITALS)],
                            f"next hour's {list(VITALS)} minus the last seen values, in units of vital_std"),
                *state_specs(model, "N", "state after the last hour sent")],
        preprocessing=Preprocessing(
            tokenizer_file="", tokenizer_sha256="", max_chars=MAX_OBSERVATIONS, labels=list(VITALS),
            normalisation=f"hourly means over {HOURS} h; values clipped to physiological limits (reported); log1p on "
                          f"{', '.join(SKEWED)}; standardised with the training stays' statistics",
            statistics={**extras["statistics"], "vital_mean": extras["vital_mean"],
                        "vital_std": extras["vital_std"], "hours": HOURS,
                        "limits": {k: list(v) for k, v in LIMITS.items()},
                        "descriptor_limits": {k: list(v) for k, v in DESCRIPTORS.items()}}),
        training_data=TrainingData(
            dataset="PhysioNet/CinC Challenge 2012 (first 48 h of 4,000 + 4,000 adult ICU stays)",
            source=PHYSIONET_FILES["set-a"].url.rsplit("/", 1)[0], license=PHYSIONET_LICENSE,
            train_split=f"set-a: {extras['train_stays']} stays for training, {extras['validation_stays']} "
                        "held out by patient for monitoring; statistics from the training stays",
            evaluation_split=f"set-b: {len(test_stays)} stays, never used for training or normalisation"),
        metrics=[],
        training=training_record(checkpoint, name, command, "training.vitals.train",
                                 epochs=checkpoint["config"]["epochs"], history=extras["history"]),
        export=export_record(out / MODEL_FILE, difference, PARITY_TOLERANCE),
        intended_use="Research and education only; NOT a medical device and not for decisions about patients. "
                     "Trained on adult ICU stays (coronary care, cardiac surgery recovery, medical and surgical ICUs) "
                     "of one US hospital network in the PhysioNet/CinC 2012 challenge.",
        limitations=[],
        figures=[FIGURE_FILE],
    )
    card = from_torch(out, card, model)  # saves the card with its parity vectors
    predictor = VitalsPredictor(out, ["CPUExecutionProvider"])
    evaluation = evaluate(predictor, train_records, np.array([s.died for s in train_stays]), test_records,
                          np.array([s.died for s in test_stays]), np.array([s.saps1 for s in test_stays]))
    card.metrics = evaluation.metrics
    card.limitations = limitations(card, evaluation)
    plot_calibration(evaluation, f"{name} on set-b: calibration at hour 48", out / FIGURE_FILE)
    card.save(out)
    for metric in card.metrics:
        print(f"{name}: {metric.name} {metric.value} vs {metric.baseline_value} ({metric.baseline})")
    print(f"{name}: AUROC 95% interval {evaluation.auroc_interval}, minus the logistic regression's {evaluation.difference_interval}")
    return card


def limitations(card: ModelCard, evaluation: Evaluation) -> list[str]:
    auroc_metric = card.metric("mortality_auroc")
    low, high = evaluation.auroc_interval
    apart_low, apart_high = evaluation.difference_interval
    verdict = "beats" if auroc_metric.value > auroc_metric.baseline_value else "does not beat"
    reading = ("the interval of the difference holds 0, so the data do not show either one better"
               if apart_low <= 0 <= apart_high else
               f"the interval of the difference does not hold 0: the {'recurrent model' if apart_low > 0 else 'regression'} "
               "is better on this split")
    forecasts = [m for m in card.metrics if m.name.startswith("next_hour_mae_")]
    better = [m.name.removeprefix("next_hour_mae_") for m in forecasts if m.value < m.baseline_value]
    return [
        f"Mortality AUROC on set-b is {auroc_metric.value:.3f} (95% bootstrap interval {low:.3f}-{high:.3f}); the "
        f"logistic regression on summary features reaches {auroc_metric.baseline_value:.3f}. The recurrent model "
        f"{verdict} it at hour 48 as a point estimate; the difference is {auroc_metric.value - auroc_metric.baseline_value:+.3f} "
        f"(95% paired bootstrap interval {apart_low:+.3f} to {apart_high:+.3f}), and {reading}. What the recurrent "
        "model adds is a risk after every hour, from the first hour on, without waiting for 48 hours of summaries.",
        "Set-b never touched training or normalisation, but it is the split every comparison in the README was "
        "read on (5 vs 10 risk members, averaging the cells), and the service's default vitals model is the one "
        "with the best set-b AUROC; the shipped configuration was fixed before those comparisons.",
        f"Next-hour forecasts beat carrying the last value forward for: {', '.join(better) or 'none'} "
        f"(of {', '.join(VITALS)}); gains are small because vitals change little from one hour to the next.",
        "Hourly means: several readings within an hour are averaged; values outside the documented limits are "
        "clipped and reported, never silently used.",
        f"Variables read: {', '.join(SERIES)} and the descriptors {', '.join(DESCRIPTORS)}; RecordID is accepted and ignored.",
        "One hospital network's adult ICU population, 2001-2008 era; other populations, paediatric patients and "
        "other charting habits are untested.",
    ]


def measure(card: ModelCard, directory: Path, data_dir: str | None) -> ModelCard:
    """The card's metrics, and the limitations written from them, measured again for the file in `directory`."""
    train, test = load_physionet("set-a", data_dir), load_physionet("set-b", data_dir)
    evaluation = evaluate(
        VitalsPredictor(directory, ["CPUExecutionProvider"]), [parse_record_text(s.record_text) for s in train],
        np.array([s.died for s in train]), [parse_record_text(s.record_text) for s in test],
        np.array([s.died for s in test]), np.array([s.saps1 for s in test]))
    card.metrics = evaluation.metrics
    card.limitations = limitations(card, evaluation)
    return card


TRAINING_TASK = TrainingTask(name=VitalsPredictor.task, export=export_vitals, export_fp32=export_fp32, measure=measure)


def main() -> None:
    run_export(export_vitals, __doc__)


if __name__ == "__main__":
    main()
