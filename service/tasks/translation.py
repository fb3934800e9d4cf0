"""POST /translate: German to English with beam search. Each request's sentences are encoded once; their decoding
shares onnxruntime calls with every other request in flight (service/tasks/translation_scheduler.py)."""
from __future__ import annotations

from typing import Annotated

import bentoml
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, Field

from service.core import ModelServer, Unavailable, unavailable_as_503
from service.tasks.translation_scheduler import Busy, TranslationScheduler
from zoo.task import TextError
from zoo.tasks.translation import TASK
from zoo.tasks.translation.predictor import MAX_BEAM, MAX_SOURCE_SUBWORDS
from zoo.tasks.translation.predictor import MAX_TARGET_SUBWORDS as MAX_LENGTH
from zoo.tasks.translation.vocabulary import MAX_TEXT_CHARS

MAX_TEXTS = 64  # per request
MAX_SENTENCES_IN_FLIGHT = 1024  # per model, over all requests: past it a request gets 503 and retries

GermanTexts = Annotated[list[str], Field(
    min_length=1, max_length=MAX_TEXTS,
    description=f"1 to {MAX_TEXTS} German texts, each 1 to {MAX_TEXT_CHARS} characters and at most "
                f"{MAX_SOURCE_SUBWORDS} subwords",
    examples=[["Ein Mann fährt mit dem Fahrrad über eine Brücke.", "Zwei Hunde spielen im Schnee."]])]
BeamSize = Annotated[int, Field(ge=1, le=MAX_BEAM, description=f"hypotheses kept per sentence, 1 (greedy) to "
                                                                 f"{MAX_BEAM}", examples=[4])]
MaxLength = Annotated[int | None, Field(
    ge=1, le=MAX_LENGTH,
    description=f"subwords per translation at most, 1 to {MAX_LENGTH}; omitted: 2 x source + 10, at most {MAX_LENGTH}")]
TranslationModel = Annotated[str | None, Field(
    description="a translation model listed by GET /models, optionally as name@version; omitted: the best by "
                "validation BLEU", examples=["multi30k-de-en-gru"])]


class TranslationResult(BaseModel):
    text: str = Field(description="the English translation", examples=["A man rides a bicycle across a bridge."])
    score: float = Field(description="log-probability the model gives the translation (its subwords, and its end "
                                     "unless max_length cut it)")
    unknown_characters: list[str] = Field(description="characters of the input the vocabulary has no piece for, "
                                                      "each read as the unknown token")
    # Empty, not null, without `attention`: BentoML's own client (SyncHTTPClient) fails on a null array.
    source_pieces: list[str] = Field(description="with attention: the German subwords read, </s> last; else empty")
    target_pieces: list[str] = Field(description="with attention: the English subwords written; else empty")
    attention: list[list[float]] = Field(
        description="with attention: one row per target piece, one weight per source piece (rows sum to 1); else empty")


class TranslateResponse(BaseModel):
    model: str = Field(examples=["multi30k-de-en-gru"])
    translations: list[TranslationResult] = Field(description="one per input text, in input order")


class TranslationEndpoints(ModelServer):
    session = None  # one-shot: a sentence is translated whole

    def prepare(self) -> None:
        self.translation_schedulers = {}

    def translation_scheduler(self, predictor) -> TranslationScheduler:
        if predictor.name not in self.translation_schedulers:
            self.translation_schedulers[predictor.name] = TranslationScheduler(
                predictor, self.model_thread, MAX_SENTENCES_IN_FLIGHT,
                observe=self.metrics.request_batch.labels(predictor.card.task, predictor.name).observe)
        return self.translation_schedulers[predictor.name]

    @bentoml.api(route="/translate")
    @unavailable_as_503
    async def translate(self, texts: GermanTexts, beam_size: BeamSize = 4, max_length: MaxLength = None,
                        attention: bool = False, model: TranslationModel = None) -> TranslateResponse:
        """English translations of German sentences, in input order; `attention` adds where each English subword
        looked in the German."""
        predictor = self.model(TASK.name, model)
        try:
            encoded = predictor.encode(texts)
        except TextError as error:
            raise InvalidArgument(str(error)) from None
        try:
            best = await self.translation_scheduler(predictor).translate(encoded, beam_size, max_length)
        except Busy as error:
            raise Unavailable(str(error)) from None
        return TranslateResponse(model=predictor.name, translations=[
            TranslationResult(**predictor.reading(source, hypothesis).answer(attention))
            for source, hypothesis in zip(encoded, best)])
