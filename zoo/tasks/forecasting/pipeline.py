"""`zoo.pipeline("forecasting")`: daily closes in, /stock_forecast's answer out."""
from __future__ import annotations

from pathlib import Path

from zoo.task import Pipeline
from zoo.tasks.forecasting.features import ForecastInputError


class ForecastingPipeline(Pipeline):
    def __call__(self, closes: list[float], horizon: int = 5) -> dict:
        """Quantiles of the close 1..horizon trading days after the last of `closes` (oldest first, at least the
        model's window + 1) -> {"model", "last_close", "forecast": [{"day", "p10", "p50", "p90"}, ...]}."""
        window = self.predictor.window_of(closes, horizon)  # (W+1,)
        (quantiles,) = self.predictor.run([window])  # (H, Q)
        return self.predictor.answer(window, quantiles, horizon)

    def from_command_line(self, inputs: list[str], options: dict) -> dict:
        """Closes as words, or one file of them (separated by commas, spaces or lines)."""
        if len(inputs) == 1 and Path(inputs[0]).is_file():
            inputs = Path(inputs[0]).read_text().replace(",", " ").split()
        try:
            closes = [float(word) for word in inputs]
        except ValueError as error:
            raise ForecastInputError(f"closes must be numbers: {error}") from None
        return self(closes, **options)
