"""`zoo.pipeline("sentiment")`: texts in, /sentiment's answer out."""
from __future__ import annotations

from zoo.task import Pipeline, text_list


class SentimentPipeline(Pipeline):
    def __call__(self, texts: str | list[str]) -> dict:
        """Positive/negative sentiment of each text -> {"model", "predictions": [{"label", "positive"}, ...]},
        one prediction per text, in input order (a single string is a list of one)."""
        probabilities = self.predictor.probabilities(text_list(texts))  # (N, C)
        return {"model": self.model, "predictions": self.predictor.predictions(probabilities)}
