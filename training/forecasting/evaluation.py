"""The forecasters' test metrics, measured with onnxruntime, beside the naive forecasts on the same windows:
(a) the random walk, a zero median with the empirical quantiles of the trailing year's h-day returns (centred
on zero); (b) the last daily return persisted (h times it)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
    error = targets[..., None] - quantiles  # (N, H, Q)
    levels = np.array(levels)
    return float(np.maximum(levels * error, (levels - 1) * error).mean())


def coverage(quantiles: np.ndarray, targets: np.ndarray) -> float:
    return float(((targets >= quantiles[..., 0]) & (targets <= quantiles[..., -1])).mean())


def skill_interval(model_q: np.ndarray, walk_q: np.ndarray, targets: np.ndarray, levels: list[float],
                   months: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """95% interval of the pinball skill over the random walk (1 - model/walk), resampling whole calendar
    months of test windows: neighbouring days share their targets, so single windows are not independent."""
    def per_window(quantiles):
        error = targets[..., None] - quantiles  # (N, H, Q)
        return np.maximum(np.array(levels) * error, (np.array(levels) - 1) * error).sum(axis=(1, 2))  # (N,)

    model_loss, walk_loss = per_window(model_q), per_window(walk_q)
    blocks = [np.flatnonzero(months == month) for month in np.unique(months)]
    rng = np.random.default_rng(seed)
    skills = []
    for _ in range(resamples):
        rows = np.concatenate([blocks[i] for i in rng.integers(0, len(blocks), len(blocks))])
        skills.append(1 - model_loss[rows].sum() / walk_loss[rows].sum())
    low, high = np.percentile(skills, [2.5, 97.5])
    return float(low), float(high)


@dataclass
class Evaluation:
    metrics: list[Metric]  # for the card
    quantiles: np.ndarray  # (N, H, Q) the model's log-return quantiles, for the plot
    skill_interval: tuple[float, float]  # 95% bootstrap interval of the pinball skill over the random walk


def evaluate(forecaster: ForecastingPredictor, series: dict[str, PriceSeries], windows: Windows) -> Evaluation:
    """The card's test metrics, measured with onnxruntime, beside the naive forecasts on the same windows."""
    levels, horizons, y = forecaster.quantiles, forecaster.horizons, windows.targets
    model_q = forecaster.log_return_quantiles(np.exp(windows.log_closes))  # (N, H, Q)
    walk_q = random_walk_quantiles(series, windows, horizons, levels)
    median = model_q[..., levels.index(0.5)]  # (N, H)
    last_return = windows.log_closes[:, -1] - windows.log_closes[:, -2]  # (N,)
    persisted = last_return[:, None] * np.arange(1, horizons + 1)  # (N, H) baseline (b)
    walk_mae = np.abs(y).mean()  # the random walk's median is 0
    split = f"test {STOCK_SPLITS['test'][0]} to {STOCK_SPLITS['test'][1]}, {len(set(windows.tickers))} tickers, horizons 1-{horizons}"
    n = int(y.size)
    up_rate = float((y[:, 0] > 0).mean())
    metrics = [
        Metric("pinball_loss", split, round(pinball(model_q, y, levels), 7),
               "(a) random walk: zero median, trailing-year empirical quantiles", round(pinball(walk_q, y, levels), 7), n),
        Metric("mase_median", split, round(float(np.abs(y - median).mean() / walk_mae), 5),
               "(a) random walk (zero median), 1.0 by definition", 1.0, n),
        Metric("mae_median_log_return", split, round(float(np.abs(y - median).mean()), 7),
               "(b) last daily return persisted", round(float(np.abs(y - persisted).mean()), 7), n),
        Metric("coverage_80", split, round(coverage(model_q, y), 5),
               "(a) random walk: trailing-year 10%-90% quantiles", round(coverage(walk_q, y), 5), n),
        Metric("direction_accuracy_1d", f"{split} (day 1 only)", round(float((np.sign(median[:, 0]) == np.sign(y[:, 0])).mean()), 5),
               "up-day base rate (always predict up)", round(up_rate, 5), int(len(y))),
    ]
    months = np.array([series[t].dates[i].astype("datetime64[M]") for t, i in zip(windows.tickers, windows.anchor_index)])
    return Evaluation(metrics, model_q, skill_interval(model_q, walk_q, y, levels, months))
