"""Forecasting checkpoint -> ONNX -> parity check -> onnxruntime evaluation on the test split beside the naive
forecasts (training/forecasting/evaluation.py) -> model card and forecast plot.

    python -m training.forecasting.export checkpoints/stock-gru.pt
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from training.checkpoints import build_model, load_checkpoint
from training.cli import run_export
from training.forecasting.data import (
    STOCK_SPLITS,
    STOCK_TICKERS,
    STOCKS_LICENSE,
    STOCKS_SOURCE,
    WEIGHTS_LICENSE,
    WEIGHTS_TERMS,
    PriceSeries,
    load_stocks,
)
from training.forecasting.evaluation import evaluate
from training.forecasting.windows import Windows, make_windows
from training.onnx_export import export_graph, export_record, training_record
from training.parity_vectors import from_torch
from training.task import TrainingTask
from zoo import get_spec
from zoo.artifacts import create_session
from zoo.cards import MODEL_FILE, Architecture, ModelCard, Preprocessing, TensorSpec, TrainingData
from zoo.models import parameter_count
from zoo.tasks.forecasting.features import FEATURES, MAX_CLOSES, MIN_SCALE, WINDOW, FeatureStatistics, features
from zoo.tasks.forecasting.predictor import ForecastingPredictor

PARITY_TOLERANCE = 1e-5
FIGURE_FILE = "forecast.png"


def export_onnx(model: torch.nn.Module, path: Path, window: int = WINDOW) -> None:
    sample = torch.randn(2, window, len(FEATURES))
    export_graph(model, (sample,), path, input_names=["features"], output_names=["quantiles"],
                 dynamic_axes={"features": {0: "batch", 1: "window"}, "quantiles": {0: "batch"}})


def export_fp32(model: torch.nn.Module, card: ModelCard, path: Path) -> torch.nn.Module:
    export_onnx(model, path)
    return model


def parity(model: torch.nn.Module, path: Path, windows: Windows, statistics: FeatureStatistics) -> float:
    """max |torch - onnxruntime| on 13 real test windows (a batch size unlike the export sample's)."""
    inputs, _ = features(windows.log_closes[:13], statistics)
    session = create_session(path.read_bytes(), ["CPUExecutionProvider"])
    (onnx_out,) = session.run(None, {"features": inputs})
    with torch.no_grad():
        torch_out = model(torch.from_numpy(inputs)).numpy()
    return float(np.abs(onnx_out - torch_out).max())


def plot(series: dict[str, PriceSeries], windows: Windows, model_q: np.ndarray, levels: list[float],
         title: str, path: Path) -> None:
    """Test-period prices with the 5-day-ahead forecast fan (median and 80% band) placed at its target day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tickers = list(dict.fromkeys(windows.tickers))
    figure, axes = plt.subplots(len(tickers), 1, figsize=(9, 2.3 * len(tickers)), sharex=True)
    h = model_q.shape[1]
    for axis, ticker in zip(np.atleast_1d(axes), tickers):
        rows = np.array([i for i, t in enumerate(windows.tickers) if t == ticker])
        prices = series[ticker]
        anchors = windows.anchor_index[rows]
        last = prices.closes[anchors]
        target_days = prices.dates[anchors + h]
        fan = last[:, None] * np.exp(model_q[rows, h - 1])  # (n, Q) prices
        axis.fill_between(target_days, fan[:, 0], fan[:, -1], color="tab:blue", alpha=0.25, linewidth=0,
                          label=f"{levels[0]:.0%}-{levels[-1]:.0%} band, {h} days ahead")
        axis.plot(target_days, fan[:, levels.index(0.5)], color="tab:blue", linewidth=0.8, label="median forecast")
        shown = (prices.dates >= target_days[0]) & (prices.dates <= target_days[-1])
        axis.plot(prices.dates[shown], prices.closes[shown], color="black", linewidth=0.8, label="adjusted close")
        axis.set_ylabel(f"{ticker} ($)")
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize=7)
    np.atleast_1d(axes)[0].set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)


def export_forecasting(checkpoint_path: Path, artifacts_dir: Path, data_dir: str | None = None,
                       command: str = "") -> ModelCard:
    """`data_dir` is unused: the prices come from an installed package (training/forecasting/data.py)."""
    checkpoint = load_checkpoint(checkpoint_path)
    name, arguments, extras = checkpoint["model_name"], checkpoint["model_arguments"], checkpoint["extras"]
    out = Path(artifacts_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(checkpoint)
    export_onnx(model, out / MODEL_FILE)
    statistics = FeatureStatistics.from_dict(extras["feature_statistics"])
    series = load_stocks()
    test_windows = make_windows(series, "test")
    difference = parity(model, out / MODEL_FILE, test_windows, statistics)
    if difference > PARITY_TOLERANCE:
        raise RuntimeError(f"{name}: parity torch vs onnxruntime {difference:.1e} (max {PARITY_TOLERANCE})")

    levels, horizons = list(arguments["quantiles"]), arguments["horizons"]
    card = ModelCard(
        weights_license=WEIGHTS_LICENSE, weights_license_terms=WEIGHTS_TERMS,
        name=name, version="1.0.0", task="forecasting", summary=get_spec(name).description,
        architecture=Architecture(cell=arguments["cell"], num_layers=arguments["num_layers"],
                                  hidden_size=arguments["hidden_size"], bidirectional=False, embedding_dim=0,
                                  vocab_size=0, parameter_count=parameter_count(model)),
        inputs=[TensorSpec("features", "float32", ["batch", WINDOW, len(FEATURES)],
                           f"normalised daily features {list(FEATURES)} of the last {WINDOW} returns")],
        outputs=[TensorSpec("quantiles", "float32", ["batch", horizons, len(levels)],
                            f"quantiles {levels} of the cumulative log return 1..{horizons} days ahead, "
                            "in units of the window's daily volatility")],
        preprocessing=Preprocessing(
            tokenizer_file="", tokenizer_sha256="", max_chars=MAX_CLOSES, labels=[f"p{round(q * 100)}" for q in levels],
            normalisation=f"log returns of the last {WINDOW + 1} closes divided by their standard deviation "
                          f"(floor {MIN_SCALE}); features standardised with the training windows' statistics",
            statistics={**statistics.to_dict(), "window": WINDOW, "horizons": horizons, "quantiles": levels,
                        "min_scale": MIN_SCALE, "calibration_gap_scale": [round(f, 4) for f in extras["gap_scale"]],
                        "validation_coverage_before_calibration":
                            [round(c, 4) for c in extras["validation_coverage_before_calibration"]]}),
        training_data=TrainingData(
            dataset=f"daily adjusted closes of {', '.join(STOCK_TICKERS)}", source=STOCKS_SOURCE, license=STOCKS_LICENSE,
            train_split=f"windows whose last target day is in {STOCK_SPLITS['train'][0][:4]}-{STOCK_SPLITS['train'][1][:4]} "
                        f"({len(make_windows(series, 'train')):,}); calibration on {STOCK_SPLITS['validation'][0][:4]} "
                        f"({len(make_windows(series, 'validation')):,})",
            evaluation_split=f"{STOCK_SPLITS['test'][0]} to {STOCK_SPLITS['test'][1]} ({len(test_windows):,} windows)"),
        metrics=[],
        training=training_record(checkpoint, name, command, "training.forecasting.train",
                                 epochs=checkpoint["config"]["epochs"], best_epoch=checkpoint["best_iteration"]),
        export=export_record(out / MODEL_FILE, difference, PARITY_TOLERANCE),
        intended_use="Teaching: what a recurrent network can and cannot learn from past prices; a calibrated "
                     "range of plausible moves (risk), not a prediction of direction.",
        limitations=[],
        figures=[FIGURE_FILE],
    )
    card = from_torch(out, card, model)  # saves the card with its parity vectors
    forecaster = ForecastingPredictor(out, ["CPUExecutionProvider"])
    evaluation = evaluate(forecaster, series, test_windows, make_windows(series, "train"))
    card.metrics = evaluation.metrics
    card.limitations = limitations(card, evaluation.skill_interval)
    plot(series, test_windows, evaluation.quantiles, levels, f"{name} on the test split: {horizons}-day-ahead forecasts", out / FIGURE_FILE)
    card.save(out)
    for metric in card.metrics:
        print(f"{name}: {metric.name} {metric.value} vs {metric.baseline_value} ({metric.baseline})")
    return card


def limitations(card: ModelCard, interval: tuple[float, float]) -> list[str]:
    """Plain words about what the measured numbers mean, written from the numbers themselves."""
    by_name = {m.name: m for m in card.metrics}
    pinball, mase, ratio = by_name["pinball_loss"], by_name["mase_median"], by_name["mae_ratio_to_random_walk"]
    direction = by_name["direction_accuracy_1d"]
    skill = 1 - pinball.value / pinball.baseline_value
    beats = "beats" if interval[0] > 0 else "does not reliably beat"
    return [
        f"Its quantile (pinball) loss is {abs(skill):.1%} {'lower' if skill > 0 else 'higher'} than the random walk's "
        f"on the test split (95% interval of the improvement, resampling whole months: {interval[0]:.1%} to "
        f"{interval[1]:.1%}): the model {beats} the random walk at describing the range of moves, which comes "
        "from reading the recent volatility, not from knowing the direction.",
        f"Its median misses by {ratio.value:.3f}x the random walk's error on the same test days: a ratio near 1 means "
        "the median forecast is no better than 'no change', since daily returns of these stocks are close to a random "
        f"walk. Its MASE (Hyndman and Koehler: scaled by the naive forecast's in-sample error) is {mase.value:.3f}, "
        f"the random walk's {mase.baseline_value:.3f} on the same days.",
        f"Day-1 direction accuracy is {direction.value:.1%} against {direction.baseline_value:.1%} for always "
        "guessing 'up' on the same days. Do not trade on it: after costs and slippage there is no edge here.",
        "Trained on four large US technology stocks, 2000-2009, calibrated on 2010. Other markets, crises outside "
        "that history, splits not reflected in the closes you send, and gaps in the series are not handled.",
        "Forecasts are for adjusted closes: send a series adjusted for splits and dividends, oldest first.",
    ]


def measure(card: ModelCard, directory: Path, data_dir: str | None) -> ModelCard:
    """The card's metrics, and the limitations written from them, measured again for the file in `directory`."""
    series = load_stocks()
    predictor = ForecastingPredictor(directory, ["CPUExecutionProvider"])
    evaluation = evaluate(predictor, series, make_windows(series, "test"), make_windows(series, "train"))
    card.metrics = evaluation.metrics
    card.limitations = limitations(card, evaluation.skill_interval)
    return card


TRAINING_TASK = TrainingTask(name=ForecastingPredictor.task, export=export_forecasting, export_fp32=export_fp32,
                             measure=measure)


def main() -> None:
    run_export(export_forecasting, __doc__, reads_data=False)


if __name__ == "__main__":
    main()
