"""The forecasters' test metrics, measured with onnxruntime, beside the naive forecasts on the same windows:
(a) the random walk, a zero median with the empirical quantiles of the trailing year's h-day returns (centred
on zero); (b) the last daily return persisted (h times it). Losses are scikit-learn's; the interval of the
pinball skill is a paired bootstrap (scipy) over whole calendar months."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap
from sklearn.metrics import mean_absolute_error, mean_pinball_loss

from training.forecasting.data import STOCK_SPLITS, PriceSeries
from training.forecasting.windows import Windows
from zoo.cards import Metric
from zoo.tasks.forecasting.predictor import ForecastingPredictor

TRAILING_DAYS = 250  # the random walk's quantiles come from the trailing trading year


def random_walk_quantiles(series: dict[str, PriceSeries], windows: Windows, horizons: int,
                          levels: list[float]) -> np.ndarray:
    """Baseline (a): (N, H, Q) zero-median quantiles of the trailing year's overlapping h-day returns."""
    out = np.zeros((len(windows), horizons, len(levels)))
    for i, (ticker, t) in enumerate(zip(windows.tickers, windows.anchor_index)):
        logs = np.log(series[ticker].closes[max(0, t - TRAILING_DAYS) : t + 1])  # the past only
        for h in range(1, horizons + 1):
            moves = logs[h:] - logs[:-h]  # overlapping h-day log returns
            quantiles = np.quantile(moves, levels)
            out[i, h - 1] = quantiles - np.median(moves)  # a random walk's median is zero
    return out


def pinball(quantiles: np.ndarray, targets: np.ndarray, levels: list[float]) -> float:
    """Mean pinball loss over every window, horizon and quantile level: (N, H, Q) quantiles, (N, H) targets."""
    return float(np.mean([mean_pinball_loss(targets.ravel(), quantiles[..., k].ravel(), alpha=level)
                          for k, level in enumerate(levels)]))


def mase(median: np.ndarray, targets: np.ndarray, train_targets: np.ndarray) -> float:
    """Hyndman and Koehler's mean absolute scaled error, for each horizon h: the test MAE of the median forecast of
    the h-day return over the in-sample MAE of the naive h-day forecast (no change: a zero return) on the training
    windows, averaged over horizons. Below 1: better than the naive forecast was in sample. Written here because
    scikit-learn has no MASE (it needs the training series for its scale)."""
    scale = np.abs(train_targets).mean(axis=0)  # (H,) the naive forecast's in-sample MAE
    return float(np.mean([mean_absolute_error(targets[:, h], median[:, h]) / scale[h] for h in range(targets.shape[1])]))


def coverage(quantiles: np.ndarray, targets: np.ndarray) -> float:
    return float(((targets >= quantiles[..., 0]) & (targets <= quantiles[..., -1])).mean())


def skill_interval(model_q: np.ndarray, walk_q: np.ndarray, targets: np.ndarray, levels: list[float],
                   months: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the pinball skill over the random walk (1 - model/walk), resampling whole calendar months
    of test windows, each month's model and walk losses together (paired): neighbouring days share their targets,
    so single windows are not independent."""
    levels = np.array(levels)

    def per_window(quantiles):  # scikit-learn's pinball loss averages over windows: each window's sum is needed
        error = targets[..., None] - quantiles  # (N, H, Q)
        return np.maximum(levels * error, (levels - 1) * error).sum(axis=(1, 2))  # (N,)

    model_loss, walk_loss = per_window(model_q), per_window(walk_q)
    order = np.unique(months)
    model_months = np.array([model_loss[months == m].sum() for m in order])  # (M,) one resampling unit per month
    walk_months = np.array([walk_loss[months == m].sum() for m in order])

    def skill(model, walk, axis=-1):
        return 1 - model.sum(axis=axis) / walk.sum(axis=axis)

    interval = bootstrap((model_months, walk_months), skill, paired=True, vectorized=True, n_resamples=resamples,
                         method="percentile", random_state=seed).confidence_interval
    return float(interval.low), float(interval.high)


@dataclass
class Evaluation:
    metrics: list[Metric]  # for the card
    quantiles: np.ndarray  # (N, H, Q) the model's log-return quantiles, for the plot
    skill_interval: tuple[float, float]  # 95% bootstrap interval of the pinball skill over the random walk


def evaluate(forecaster: ForecastingPredictor, series: dict[str, PriceSeries], windows: Windows,
             train_windows: Windows) -> Evaluation:
    """The card's test metrics, measured with onnxruntime, beside the naive forecasts on the same windows
    (`train_windows`: the in-sample scale of MASE)."""
    levels, horizons, y = forecaster.quantiles, forecaster.horizons, windows.targets
    model_q = forecaster.log_return_quantiles(np.exp(windows.log_closes))  # (N, H, Q)
    walk_q = random_walk_quantiles(series, windows, horizons, levels)
    median = model_q[..., levels.index(0.5)]  # (N, H)
    last_return = windows.log_closes[:, -1] - windows.log_closes[:, -2]  # (N,)
    persisted = last_return[:, None] * np.arange(1, horizons + 1)  # (N, H) baseline (b)
    walk_mae = mean_absolute_error(y, np.zeros_like(y))  # the random walk's median is 0
    split = f"test {STOCK_SPLITS['test'][0]} to {STOCK_SPLITS['test'][1]}, {len(set(windows.tickers))} tickers, horizons 1-{horizons}"
    n = int(y.size)
    up_rate = float((y[:, 0] > 0).mean())
    metrics = [
        Metric("pinball_loss", split, round(pinball(model_q, y, levels), 7),
               "(a) random walk: zero median, trailing-year empirical quantiles", round(pinball(walk_q, y, levels), 7), n),
        Metric("mase_median", split, round(mase(median, y, train_windows.targets), 5),
               "(a) random walk (zero median); the scale: the naive forecast's MAE on the training windows",
               round(mase(np.zeros_like(y), y, train_windows.targets), 5), n),
        Metric("mae_ratio_to_random_walk", split, round(mean_absolute_error(y, median) / walk_mae, 5),
               "(a) random walk (zero median), 1.0 by definition", 1.0, n),
        Metric("mae_median_log_return", split, round(mean_absolute_error(y, median), 7),
               "(b) last daily return persisted", round(mean_absolute_error(y, persisted), 7), n),
        Metric("coverage_80", split, round(coverage(model_q, y), 5),
               "(a) random walk: trailing-year 10%-90% quantiles", round(coverage(walk_q, y), 5), n),
        Metric("direction_accuracy_1d", f"{split} (day 1 only)", round(float((np.sign(median[:, 0]) == np.sign(y[:, 0])).mean()), 5),
               "up-day base rate (always predict up)", round(up_rate, 5), int(len(y))),
    ]
    months = np.array([series[t].dates[i].astype("datetime64[M]") for t, i in zip(windows.tickers, windows.anchor_index)])
    return Evaluation(metrics, model_q, skill_interval(model_q, walk_q, y, levels, months))
