"""`zoo.pipeline("forecasting")`: daily closes in, /stock_forecast's answer out."""
from __future__ import annotations

from zoo.task import Pipeline


class ForecastingPipeline(Pipeline):
    def __call__(self, closes: list[float], horizon: int = 5) -> dict:
        """Quantiles of the close 1..horizon trading days after the last of `closes` (oldest first, at least the
        model's window + 1) -> {"model", "last_close", "forecast": [{"day", "p10", "p50", "p90"}, ...]}."""
        window = self.predictor.window_of(closes, horizon)  # (W+1,)
        (quantiles,) = self.predictor.run([window])  # (H, Q)
        return self.predictor.answer(window, quantiles, horizon)
