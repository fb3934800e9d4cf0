"""POST /generate, /generate_stream and text sessions: request and response bodies, the adapter from a prompt
to character ids, and a session that keeps a text's state and continues it (streams: generation_scheduler)."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any, ClassVar

import bentoml
import numpy as np
from bentoml.exceptions import BentoMLException, InvalidArgument
from pydantic import BaseModel, Field, WithJsonSchema
from starlette.responses import StreamingResponse

from service.core import ModelServer, unavailable_as_503
from service.sessions import Session
from service.tasks.generation_scheduler import CapacityError, GenerationMetrics, SamplingParams, StepScheduler
from zoo.sampling import seed_or_fresh
from zoo.task import TextError
from zoo.tasks.generation import TASK
from zoo.tasks.generation.pipeline import MAX_NEW_TOKENS, MAX_TEMPERATURE, MAX_TOP_K  # the pipeline's limits too

MAX_PROMPT_CHARS = 4000  # also on each generation card (preprocessing.max_chars)
MAX_STREAMS_PER_MODEL = 64  # live generations per model; one more gets 429
MAX_GENERATION_SECONDS = 120.0  # wall-clock cap on one generation
TOP_CHARACTERS = 5  # next-character candidates a text step returns

Prompt = Annotated[str, Field(max_length=MAX_PROMPT_CHARS, examples=["ROMEO:"],
                              description=f"text to continue, up to {MAX_PROMPT_CHARS} characters from the model's "
                                          "vocabulary (GET /models); empty: start as if after a line break")]
MaxNewTokens = Annotated[int, Field(ge=1, le=MAX_NEW_TOKENS, examples=[200],
                                    description=f"characters to generate, 1 to {MAX_NEW_TOKENS}")]


# OpenAPI 3.0 (what BentoML publishes) spells an open bound as a boolean beside `minimum`; pydantic writes
# the JSON Schema 2020 number form, which OpenAPI 3.0 tools reject, so these bounds carry their own schema.
def _above_zero(maximum: float, **schema) -> WithJsonSchema:
    return WithJsonSchema({"type": "number", "minimum": 0.0, "exclusiveMinimum": True, "maximum": maximum, **schema})


Temperature = Annotated[float, Field(gt=0.0, le=MAX_TEMPERATURE), _above_zero(
    MAX_TEMPERATURE, default=0.8, examples=[0.8], description="in (0, 2]: lower is more conservative")]
TopK = Annotated[int | None, Field(ge=1, le=MAX_TOP_K, examples=[40],
                                   description=f"sample among the k likeliest, 1 to {MAX_TOP_K}; null: all")]
TopP = Annotated[Annotated[float, Field(gt=0.0, le=1.0), _above_zero(1.0)] | None,
                 Field(examples=[0.95], description="sample from the smallest set reaching this probability; null: off")]
Seed = Annotated[int | None, Field(ge=0, le=2**63 - 1, examples=[7],
                                   description="same seed and body, same text; null: a fresh random seed")]
GenerationModel = Annotated[str | None, Field(description="a generation model listed by GET /models, optionally as name@version; "
                                                          "omitted: the best one by validation loss",
                                              examples=["shakespeare-lstm"])]
SessionText = Annotated[str | None, Field(max_length=MAX_PROMPT_CHARS, examples=["ROMEO:"],
                                   description=f"text sessions: characters to append, up to {MAX_PROMPT_CHARS} per "
                                               "step, from the model's vocabulary; may be empty")]
ContinuationTokens = Annotated[int, Field(ge=0, le=MAX_NEW_TOKENS, examples=[0],
                                          description=f"text sessions: characters of continuation to sample, 0 to "
                                                      f"{MAX_NEW_TOKENS}; the session's state is not changed by it")]


class GenerateResponse(BaseModel):
    model: str = Field(examples=["shakespeare-lstm"])
    text: str = Field(description="the generated continuation (without the prompt)")
    tokens_generated: int = Field(description="characters generated")
    finish_reason: str = Field(description="'length': max_new_tokens reached; 'time_limit': the wall-clock "
                                           "cap on one generation ended it; 'error': a step failed (logged on "
                                           "the server) and the text is what came before", examples=["length"])


class NextCharacter(BaseModel):
    character: str = Field(examples=["e"])
    probability: float = Field(ge=0.0, le=1.0, examples=[0.31])


class TextStepResult(BaseModel):
    characters_seen: int = Field(description="characters the session has been sent in all")
    next_characters: list[NextCharacter] = Field(description="the 5 likeliest next characters (temperature 1)")
    continuation: str | None = Field(description="sampled continuation when max_new_tokens > 0 (not stored: send "
                                                 "it back as `text` to keep it); /generate with the whole text as "
                                                 "prompt and the same seed gives the same")
    finish_reason: str | None = Field(description="as /generate's, when there is a continuation")


def sampling(max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None,
             seed: int | None) -> SamplingParams:
    return SamplingParams(max_new_tokens, temperature, top_k, top_p, seed_or_fresh(seed))


def top_characters(logits: np.ndarray, characters: str, count: int = TOP_CHARACTERS) -> list[tuple[str, float]]:
    """(V,) scores -> the `count` likeliest next characters with their probabilities (temperature 1)."""
    probabilities = np.exp(logits.astype(np.float64) - logits.max())
    probabilities /= probabilities.sum()
    order = np.argsort(-probabilities, kind="stable")[:count]
    return [(characters[i], float(probabilities[i])) for i in order]


@dataclass(eq=False, kw_only=True)
class GenerationSession(Session):
    """A text so far: the state after it, and the next character's scores (None before any text)."""
    logits: np.ndarray | None = None
    characters: int = 0

    step_fields: ClassVar[dict[str, tuple[Any, Any]]] = {
        "text": (SessionText, None), "max_new_tokens": (ContinuationTokens, 0), "temperature": (Temperature, 0.8),
        "top_k": (TopK, 40), "top_p": (TopP, None), "seed": (Seed, None)}
    primary_field: ClassVar[str] = "text"
    primary_hint: ClassVar[str] = " (may be empty)"
    kind: ClassVar[str] = "text"
    describe: ClassVar[str] = "text generation"
    answer_field: ClassVar[str] = TASK.name
    answer_schema: ClassVar[tuple[Any, Any]] = (TextStepResult | None, Field(description="text sessions"))

    async def step(self, server: "GenerationEndpoints", fields: dict[str, Any]) -> TextStepResult:
        generator = server.zoo.predictors[self.model]
        try:
            ids = generator.vocabulary.encode(fields["text"])
        except TextError as error:
            raise InvalidArgument(f"text: {error}") from None
        params = sampling(fields["max_new_tokens"], fields["temperature"], fields["top_k"], fields["top_p"],
                          fields["seed"])
        batcher = server.session_batcher(generator)
        try:
            if len(ids):
                (logits,), self.state = await batcher.submit(ids, self.state)
                self.logits, self.characters = logits[-1], self.characters + len(ids)
            logits, state = self.logits, self.state
            if logits is None:  # nothing sent yet: as /generate with an empty prompt, after a line break
                (start,), state = await batcher.submit(np.array([generator.start_id]), self.state)
                logits = start[-1]
        except Exception:
            raise server.failed_step(self) from None
        continuation = finish_reason = None
        if params.max_new_tokens:
            scheduler = server.scheduler(generator)
            try:
                stream = scheduler.start_after(logits, state, params)
            except CapacityError as error:
                raise BentoMLException(str(error), error_code=HTTPStatus.TOO_MANY_REQUESTS) from None
            continuation = "".join([c async for c in scheduler.characters(stream)])
            finish_reason = stream.finish_reason
        return TextStepResult(
            characters_seen=self.characters,
            next_characters=[NextCharacter(character=c, probability=p)
                             for c, p in top_characters(logits, generator.vocabulary.characters)],
            continuation=continuation, finish_reason=finish_reason)


class GenerationEndpoints(ModelServer):
    session = GenerationSession

    def prepare(self) -> None:
        # Prompts run here; each model's scheduler steps its streams on a thread of its own.
        self.generation_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prompts")
        self.schedulers: dict[str, StepScheduler] = {}
        self.generation_metrics = GenerationMetrics.shared()

    def scheduler(self, generator) -> StepScheduler:
        if generator.name not in self.schedulers:
            self.schedulers[generator.name] = StepScheduler(generator, self.generation_thread, MAX_STREAMS_PER_MODEL,
                                                            MAX_GENERATION_SECONDS, self.generation_metrics)
        return self.schedulers[generator.name]

    async def _start_generation(self, prompt: str, params: SamplingParams, model: str | None):
        generator = self.model(TASK.name, model)
        try:
            prompt_ids = generator.prompt_ids(prompt)
        except TextError as error:
            raise InvalidArgument(str(error)) from None
        scheduler = self.scheduler(generator)
        try:
            stream = await scheduler.start(prompt_ids, params)
        except CapacityError as error:
            raise BentoMLException(str(error), error_code=HTTPStatus.TOO_MANY_REQUESTS) from None
        return generator, scheduler, stream

    @bentoml.api(route="/generate")
    @unavailable_as_503
    async def generate(self, prompt: Prompt, max_new_tokens: MaxNewTokens = 200, temperature: Temperature = 0.8,
                       top_k: TopK = 40, top_p: TopP = None, seed: Seed = None,
                       model: GenerationModel = None) -> GenerateResponse:
        """Continue the prompt, character by character; with a seed the same body gives the same text."""
        generator, scheduler, stream = await self._start_generation(
            prompt, sampling(max_new_tokens, temperature, top_k, top_p, seed), model)
        text = "".join([characters async for characters in scheduler.characters(stream)])
        return GenerateResponse(model=generator.name, text=text, tokens_generated=len(text),
                                finish_reason=stream.finish_reason)

    @bentoml.api(route="/generate_stream")
    @unavailable_as_503
    async def generate_stream(self, prompt: Prompt, max_new_tokens: MaxNewTokens = 200,
                              temperature: Temperature = 0.8, top_k: TopK = 40, top_p: TopP = None,
                              seed: Seed = None, model: GenerationModel = None) -> str:
        """The same generation as /generate, as server-sent events: one `data: {"token": "c"}` event per
        character, then an `event: done` whose data carries the model, the text and the count."""
        # Validation and admission happen before the response starts, so errors keep their 4xx status.
        generator, scheduler, stream = await self._start_generation(
            prompt, sampling(max_new_tokens, temperature, top_k, top_p, seed), model)

        async def events():
            text = []
            async for characters in scheduler.characters(stream):  # all that is ready: one write, an event each
                text.append(characters)
                yield "".join(f"data: {json.dumps({'token': character})}\n\n" for character in characters)
            text = "".join(text)
            done = {"model": generator.name, "text": text, "tokens_generated": len(text),
                    "finish_reason": stream.finish_reason}
            yield f"event: done\ndata: {json.dumps(done)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
