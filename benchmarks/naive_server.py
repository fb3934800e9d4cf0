"""The baseline of the performance harness: the server a user writes first.

FastAPI + uvicorn, the zoo's weights in torch eager (recovered from the shipped ONNX files, so the
predictions are the same), one forward per request, plain `def` endpoints (FastAPI runs them on its
thread pool) and torch's default threads. Same routes and JSON as the service for /sentiment and
/stock_forecast, so one load client drives both. Not part of the served bento; needs torch.

    python -m benchmarks.naive_server --port 3100
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel

from training.from_onnx import torch_model
from zoo.artifacts import ARTIFACTS_DIR
from zoo.tasks.forecasting.features import features as forecast_features
from zoo.tasks.forecasting.features import forecast_days, to_log_returns
from zoo.tasks.forecasting.predictor import ForecastingPredictor
from zoo.tasks.sentiment.predictor import SentimentPredictor

SENTIMENT_MODEL, STOCK_MODEL = "sst2-lstm", "stock-gru"


class SentimentRequest(BaseModel):
    texts: list[str]
    model: str | None = None


class ForecastRequest(BaseModel):
    closes: list[float]
    horizon: int = 5
    model: str | None = None


def create_app(sentiment_model: str = SENTIMENT_MODEL, stock_model: str = STOCK_MODEL) -> FastAPI:
    app = FastAPI()
    # The cards, tokenizer and statistics come from the zoo; only the forward pass is torch.
    sentiment = SentimentPredictor(ARTIFACTS_DIR / sentiment_model, with_session=False)
    stock = ForecastingPredictor(ARTIFACTS_DIR / stock_model, with_session=False)
    sentiment_net, stock_net = torch_model(ARTIFACTS_DIR / sentiment_model), torch_model(ARTIFACTS_DIR / stock_model)

    @app.get("/readyz")
    def ready() -> dict:
        return {"ready": True}

    @app.post("/sentiment")
    def classify(request: SentimentRequest) -> dict:
        batch = sentiment.tokenizer.pad(sentiment.tokenizer.encode(request.texts))
        with torch.no_grad():
            logits = sentiment_net(torch.from_numpy(batch.token_ids), torch.from_numpy(batch.lengths))
        positive = torch.softmax(logits, dim=-1)[:, 1].tolist()
        return {"model": sentiment_model,
                "predictions": [{"label": "positive" if p >= 0.5 else "negative", "positive": p} for p in positive]}

    @app.post("/stock_forecast")
    def forecast(request: ForecastRequest) -> dict:
        closes = np.array(request.closes[-(stock.window + 1):], dtype=np.float64)[None, :]
        inputs, scale = forecast_features(np.log(closes), stock.statistics)
        with torch.no_grad():
            scaled = stock_net(torch.from_numpy(inputs)).numpy()
        last = float(closes[0, -1])
        return {"model": stock_model, "last_close": last,
                "forecast": forecast_days(last, to_log_returns(scaled, scale)[0], stock.quantiles, request.horizon)}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3100)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
