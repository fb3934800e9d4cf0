"""Request and response bodies; their descriptions and examples are the OpenAPI documentation."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from zoo.text import MAX_TEXT_CHARS as MAX_CHARS  # also on each sentiment card (preprocessing.max_chars)

MAX_TEXTS = 64  # per request; larger jobs send several requests, which batching merges anyway

SentimentText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CHARS)]
SentimentTexts = Annotated[
    list[SentimentText],
    Field(min_length=1, max_length=MAX_TEXTS,
          description=f"1 to {MAX_TEXTS} English texts, each 1 to {MAX_CHARS} characters",
          examples=[["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate clichés"]]),
]
ModelName = Annotated[
    str | None,
    Field(description="a sentiment model listed by GET /models; omitted: the best one by dev accuracy",
          examples=["sst2-lstm"]),
]


class SentimentPrediction(BaseModel):
    label: str = Field(description="'positive' or 'negative'", examples=["positive"])
    positive: float = Field(ge=0.0, le=1.0, description="probability that the text is positive", examples=[0.93])


class SentimentResponse(BaseModel):
    model: str = Field(description="the model that answered", examples=["sst2-lstm"])
    predictions: list[SentimentPrediction] = Field(description="one per input text, in input order")


class TokenisedText(BaseModel):
    """One text on its way from the HTTP front end to the batching inference worker."""

    model: str
    token_ids: list[int]
