"""Forecasting predictor: closes -> scale-free features -> quantiles in the window's volatility units ->
cumulative log-return quantiles (zoo.tasks.forecasting.features does both conversions)."""
from __future__ import annotations

import numpy as np

from zoo.cards import CardError, ModelCard
from zoo.checks import ValidationError, expect
from zoo.predictor import OnnxPredictor
from zoo.tasks.forecasting.features import (
    FeatureStatistics,
    ForecastInputError,
    check_closes,
    features,
    forecast_days,
    to_log_returns,
)


class ForecastingPredictor(OnnxPredictor):
    """Card + feature statistics + ONNX session of one stock model: closes in, log-return quantiles out.

    The graph takes `features (B, W, F)` and returns quantiles `(B, H, Q)` in units of each window's volatility.
    """

    task = "forecasting"

    @staticmethod
    def check_contract(card: ModelCard) -> None:
        where, settings = f"{card.name} ({card.task})", card.preprocessing.statistics
        window, horizons, levels = settings.get("window"), settings.get("horizons"), settings.get("quantiles", [])
        if not isinstance(levels, list):
            raise ValidationError(f"{where}: preprocessing.statistics.quantiles should be a list, got {levels!r}")
        quantiles = len(levels)
        expect(f"{where} inputs", card.inputs, [("features", "float32", ["batch", window, None])])
        expect(f"{where} outputs", card.outputs, [("quantiles", "float32", ["batch", horizons, quantiles])])

    def load_preprocessing(self) -> None:
        settings = self.card.preprocessing.statistics
        try:
            self.statistics = FeatureStatistics.from_dict(settings)
            self.window, self.horizons = int(settings["window"]), int(settings["horizons"])
            self.quantiles = [float(q) for q in settings["quantiles"]]
            if not {0.1, 0.5, 0.9} <= set(self.quantiles):  # what /stock_forecast answers with
                raise ValueError(f"quantiles {self.quantiles} lack one of 0.1, 0.5, 0.9")
        except (KeyError, TypeError, ValueError) as error:
            raise CardError(f"{self.card.name}: preprocessing.statistics is incomplete: {error}") from None
        self.max_closes = self.card.preprocessing.max_chars

    def run(self, rows: list[np.ndarray]) -> np.ndarray:
        """Windows of W+1 positive closes, oldest first -> (B, H, Q) quantiles of the cumulative log return."""
        return self.log_return_quantiles(np.stack(rows))

    def window_of(self, closes, horizon: int) -> np.ndarray:
        """The closes a forecast of `horizon` days reads, (W+1,) oldest first; ForecastInputError saying what
        is wrong and what is allowed (the check of /stock_forecast and of its pipeline)."""
        if isinstance(horizon, bool) or not isinstance(horizon, int):
            raise ForecastInputError(f"horizon must be a whole number of trading days, 1 to {self.horizons}; "
                                     f"got {horizon!r}")
        if not 1 <= horizon <= self.horizons:
            raise ForecastInputError(f"horizon {horizon} is outside {self.name}'s 1 to {self.horizons} days; "
                                     f"allowed: 1 to {self.horizons}")
        return check_closes(closes, self.window, self.max_closes)[-(self.window + 1):]

    def answer(self, window: np.ndarray, quantiles: np.ndarray, horizon: int) -> dict:
        """(W+1,) closes read and their (H, Q) log-return quantiles -> the answer of /stock_forecast and of its
        pipeline: {"model", "last_close", "forecast": [{"day", "p10", "p50", "p90"}, ...]}."""
        last_close = float(window[-1])
        return {"model": self.name, "last_close": last_close,
                "forecast": forecast_days(last_close, quantiles, self.quantiles, horizon)}

    def log_return_quantiles(self, closes: np.ndarray) -> np.ndarray:
        """(B, W+1) positive closes, oldest first -> (B, H, Q) quantiles of the cumulative log return."""
        inputs, scale = features(np.log(closes), self.statistics)
        (scaled,) = self.session.run(None, {"features": inputs})
        return to_log_returns(scaled, scale)
