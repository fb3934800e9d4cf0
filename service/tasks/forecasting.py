"""POST /stock_forecast: its request and response bodies, and the adapter from closes to a price window and
from log-return quantiles back to prices."""
from __future__ import annotations

from typing import Annotated

import bentoml
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, Field

from service.core import ModelServer, unavailable_as_503
from zoo.tasks.forecasting import TASK
from zoo.tasks.forecasting.features import (  # also on each stock card (preprocessing)
    HORIZONS,
    MAX_CLOSES,
    ForecastInputError,
)

MAX_BATCH_WINDOWS, MAX_QUEUED_WINDOWS = 512, 8192  # one price window per request (see the sentiment limits)

Closes = Annotated[
    list[float],
    Field(min_length=1, max_length=MAX_CLOSES,
          description=f"daily closing prices, oldest first, each a finite number > 0 (adjusted for splits and "
                      f"dividends); at least the model's window + 1 (61 for the shipped models), at most "
                      f"{MAX_CLOSES}; the model reads the last window + 1",
          examples=[[round(100 * 1.001 ** i * (1 + 0.01 * ((i * 7) % 5 - 2)), 2) for i in range(61)]]),
]
Horizon = Annotated[int, Field(ge=1, le=HORIZONS, examples=[5],
                               description=f"trading days to forecast, 1 to {HORIZONS}")]
ForecastModel = Annotated[str | None, Field(description="a forecasting model listed by GET /models, optionally as name@version; omitted: "
                                                        "the best one by test pinball loss",
                                            examples=["stock-gru"])]


class ForecastDay(BaseModel):
    day: int = Field(description="trading days after the last close", examples=[1])
    p10: float = Field(description="10% quantile of the close that day", examples=[99.1])
    p50: float = Field(description="median", examples=[100.0])
    p90: float = Field(description="90% quantile", examples=[101.2])


class StockForecastResponse(BaseModel):
    model: str = Field(examples=["stock-gru"])
    last_close: float = Field(description="the last close sent, which the forecast starts from")
    forecast: list[ForecastDay] = Field(description="one entry per day 1..horizon; p10 <= p50 <= p90")


class ForecastingEndpoints(ModelServer):
    session = None  # one-shot only

    @bentoml.api(route="/stock_forecast")
    @unavailable_as_503
    async def stock_forecast(self, closes: Closes, horizon: Horizon = 5,
                             model: ForecastModel = None) -> StockForecastResponse:
        """Quantiles (10%, 50%, 90%) of the close 1..horizon trading days after the last one sent."""
        forecaster = self.model(TASK.name, model)
        try:
            window = forecaster.window_of(closes, horizon)  # (W+1,)
        except ForecastInputError as error:
            raise InvalidArgument(str(error)) from None
        (quantiles,) = await self.predict(forecaster, [window], MAX_BATCH_WINDOWS, MAX_QUEUED_WINDOWS)  # (H, Q)
        return StockForecastResponse(**forecaster.answer(window, quantiles, horizon))
