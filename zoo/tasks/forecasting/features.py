"""Daily closes -> the scale-free features the stock models read, and model quantiles -> prices (numpy only).

Training, evaluation and the service all call these functions, so a window is featurised one way.
Everything is computed from the window's own closes: log returns divided by the window's volatility
`scale`, so the same model applies to a $5 stock and a $500 one, calm or stormy. The targets are the
cumulative log returns over the next 1..H trading days, in the same scaled units.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.task import InputError

QUANTILES = (0.1, 0.5, 0.9)  # the 80% interval and the median
HORIZONS = 5  # trading days ahead
WINDOW = 60  # daily log returns the model reads, so 61 closes
MAX_CLOSES = 10_000  # longest series a request may send (about 40 years of trading days)
MIN_SCALE = 1e-4  # floor on a window's volatility: a flat series is not divided by zero
FEATURES = ("scaled_return", "scaled_abs_return", "log_volatility")


class ForecastInputError(InputError):
    """Closes that cannot be forecast: too few, too many, or not positive finite prices."""


@dataclass(frozen=True)
class FeatureStatistics:
    """Mean and standard deviation of each feature over the training windows (stored on the card)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def to_dict(self) -> dict:
        return {"features": list(FEATURES), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict) -> "FeatureStatistics":
        if list(data.get("features", [])) != list(FEATURES):
            raise ValueError(f"feature statistics are for {data.get('features')}, this code computes {FEATURES}")
        return cls(tuple(data["mean"]), tuple(data["std"]))


def check_closes(closes, window: int = WINDOW, max_closes: int = MAX_CLOSES) -> np.ndarray:
    """The closes as float64, or ForecastInputError saying what is wrong and what is allowed."""
    try:
        values = np.asarray(closes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ForecastInputError("closes must be a list of numbers (daily closing prices, oldest first)") from None
    if values.ndim != 1:
        raise ForecastInputError(f"closes must be a flat list of numbers, got an array of shape {values.shape}")
    count = len(values)
    if count < window + 1:
        raise ForecastInputError(f"closes has {count} values; this model needs at least {window + 1} daily closes "
                                 f"(a window of {window} daily returns), oldest first, at most {max_closes}")
    if count > max_closes:
        raise ForecastInputError(f"closes has {count} values; at most {max_closes} are accepted "
                                 f"(the model reads the last {window + 1})")
    bad = np.flatnonzero(~np.isfinite(values) | (values <= 0))
    if len(bad):
        raise ForecastInputError(f"closes[{bad[0]}] is {float(values[bad[0]])!r}; every close must be a finite price > 0 "
                                 f"({len(bad)} value(s) are not)")
    return values


def raw_features(log_closes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, W+1) log closes -> unnormalised features (B, W, F) and the windows' scales (B,)."""
    returns = np.diff(log_closes, axis=1)  # (B, W) daily log returns
    scale = np.maximum(returns.std(axis=1), MIN_SCALE)  # (B,) the window's daily volatility
    scaled = returns / scale[:, None]  # (B, W)
    log_volatility = np.broadcast_to(np.log(scale)[:, None], scaled.shape)  # (B, W) the regime, every step
    return np.stack([scaled, np.abs(scaled), log_volatility], axis=-1), scale  # (B, W, F), (B,)


def features(log_closes: np.ndarray, statistics: FeatureStatistics) -> tuple[np.ndarray, np.ndarray]:
    """(B, W+1) log closes -> normalised float32 features (B, W, F) and scales (B,)."""
    values, scale = raw_features(log_closes)
    normalised = (values - np.array(statistics.mean)) / np.array(statistics.std)
    return normalised.astype(np.float32), scale


def to_log_returns(scaled_quantiles: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """(B, H, Q) model output in scaled units -> cumulative log-return quantiles (B, H, Q)."""
    return scaled_quantiles * scale[:, None, None]


def to_prices(last_close: float, log_return_quantiles: np.ndarray) -> np.ndarray:
    """(H, Q) cumulative log-return quantiles -> price quantiles (H, Q); exp keeps their order."""
    return last_close * np.exp(log_return_quantiles)


def forecast_days(last_close: float, log_return_quantiles: np.ndarray, levels: list[float],
                  horizon: int) -> list[dict[str, float | int]]:
    """The answer's days 1..horizon: {"day", "p10", "p50", "p90"} in price units, from (H, Q) quantiles."""
    prices = to_prices(last_close, log_return_quantiles)
    return [{"day": day + 1, **{f"p{round(100 * q)}": float(prices[day, levels.index(q)]) for q in (0.1, 0.5, 0.9)}}
            for day in range(horizon)]
