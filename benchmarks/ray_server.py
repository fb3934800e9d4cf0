"""Ray Serve over the same ONNX files as the service's defaults, with @serve.batch: the comparison the
performance harness draws for "not slower than Ray Serve with batching". Same routes and JSON as the
service for /sentiment and /stock_forecast. Needs `pip install "ray[serve]"`; not part of the bento.

    python -m benchmarks.ray_server --port 3300
"""
from __future__ import annotations

import argparse
import signal
import sys
import time

import numpy as np
import ray
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import ModelCard
from zoo.runtime import default_model
from zoo.tasks.forecasting.features import check_closes, forecast_days
from zoo.tasks.forecasting.predictor import ForecastingPredictor
from zoo.tasks.sentiment.predictor import SentimentPredictor


@serve.deployment(max_ongoing_requests=512)
class RayZoo:
    def __init__(self, sentiment_model: str, stock_model: str):
        # One intra-op thread, as in the service: the replica shares 2 cores with Ray's own processes.
        self.sentiment = SentimentPredictor(ARTIFACTS_DIR / sentiment_model, ["CPUExecutionProvider"], threads=1)
        self.stock = ForecastingPredictor(ARTIFACTS_DIR / stock_model, ["CPUExecutionProvider"], threads=1)

    @serve.batch(max_batch_size=256, batch_wait_timeout_s=0.002)
    async def classify(self, requests: list[list[str]]) -> list[list[float]]:
        texts = [text for request in requests for text in request]
        positive = self.sentiment.probabilities(texts)[:, self.sentiment.labels.index("positive")].tolist()
        answers, start = [], 0
        for request in requests:
            answers.append(positive[start : start + len(request)])
            start += len(request)
        return answers

    @serve.batch(max_batch_size=512, batch_wait_timeout_s=0.002)
    async def forecast(self, windows: list[np.ndarray]) -> list[np.ndarray]:
        return list(self.stock.log_return_quantiles(np.stack(windows)))

    async def __call__(self, request: Request):
        if request.url.path.endswith("/readyz"):
            return JSONResponse({"ready": True})
        body = await request.json()
        if request.url.path.endswith("/sentiment"):
            positive = await self.classify(body["texts"])
            return JSONResponse({"model": self.sentiment.name, "predictions": [
                {"label": "positive" if p >= 0.5 else "negative", "positive": p} for p in positive]})
        closes = check_closes(body["closes"], self.stock.window, self.stock.max_closes)
        quantiles = await self.forecast(closes[-(self.stock.window + 1):])
        return JSONResponse({"model": self.stock.name, "last_close": float(closes[-1]), "forecast": forecast_days(
            float(closes[-1]), quantiles, self.stock.quantiles, body.get("horizon", 5))})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=3300)
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": args.port})
    # the models the service answers with by default, so both serve the same files
    cards = [ModelCard.load(d) for d in ARTIFACTS_DIR.iterdir() if (d / "card.json").exists()]
    serve.run(RayZoo.bind(default_model(cards, "sentiment"), default_model(cards, "forecasting")), route_prefix="/",
              name="rnnzoo")

    def stop(*_):
        serve.shutdown()
        ray.shutdown()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
