"""POST /sentiment: its request and response bodies, and the adapter from texts to token-id rows and from
class probabilities back to labels."""
from __future__ import annotations

from typing import Annotated

import bentoml
import numpy as np
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, Field, StringConstraints

from service.core import ModelServer, unavailable_as_503
from zoo.task import TextError
from zoo.tasks.sentiment import TASK
from zoo.tasks.sentiment.tokenizer import MAX_TEXT_CHARS as MAX_CHARS  # also on each card (preprocessing.max_chars)

MAX_TEXTS = 64  # per request; larger jobs send several requests, which batching merges anyway
# Rows merged into one onnxruntime call, and rows that may wait for a model before requests get 503.
# Past about 128 texts a call gains little per row on this CPU; the queue bounds the wait at roughly a
# second of work at peak throughput instead of letting latency grow without limit.
MAX_BATCH_TEXTS, MAX_QUEUED_TEXTS = 256, 4096

SentimentText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CHARS)]
SentimentTexts = Annotated[
    list[SentimentText],
    Field(min_length=1, max_length=MAX_TEXTS,
          description=f"1 to {MAX_TEXTS} English texts, each 1 to {MAX_CHARS} characters",
          examples=[["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate clichés"]]),
]
ModelName = Annotated[
    str | None,
    Field(description="a sentiment model listed by GET /models, optionally as name@version; omitted: the best one by dev accuracy",
          examples=["sst2-lstm"]),
]


class SentimentPrediction(BaseModel):
    label: str = Field(description="'positive' or 'negative'", examples=["positive"])
    positive: float = Field(ge=0.0, le=1.0, description="probability that the text is positive", examples=[0.93])


class SentimentResponse(BaseModel):
    model: str = Field(description="the model that answered", examples=["sst2-lstm"])
    predictions: list[SentimentPrediction] = Field(description="one per input text, in input order")


class SentimentEndpoints(ModelServer):
    session = None  # one-shot only

    @bentoml.api(route="/sentiment")
    @unavailable_as_503
    async def sentiment(self, texts: SentimentTexts, model: ModelName = None) -> SentimentResponse:
        """Positive/negative sentiment of each text, in input order."""
        predictor = self.model(TASK.name, model)
        try:
            token_ids = predictor.tokenizer.encode(texts)
        except TextError as error:
            raise InvalidArgument(str(error)) from None
        probabilities = np.array(await self.predict(predictor, token_ids, MAX_BATCH_TEXTS, MAX_QUEUED_TEXTS))  # (N, C)
        return SentimentResponse(model=predictor.name, predictions=[
            SentimentPrediction(**prediction) for prediction in predictor.predictions(probabilities)])
