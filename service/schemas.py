"""Request and response bodies; their descriptions and examples are the OpenAPI documentation."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema

from zoo.tasks.forecasting.features import HORIZONS, MAX_CLOSES# also on each stock card (preprocessing)
from zoo.tasks.vitals.records import MAX_OBSERVATIONS
from zoo.tasks.sentiment.tokenizer import MAX_TEXT_CHARS as MAX_CHARS# also on each sentiment card (preprocessing.max_chars)

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
    Field(description="a sentiment model listed by GET /models, optionally as name@version; omitted: the best one by dev accuracy",
          examples=["sst2-lstm"]),
]


class SentimentPrediction(BaseModel):
    label: str = Field(description="'positive' or 'negative'", examples=["positive"])
    positive: float = Field(ge=0.0, le=1.0, description="probability that the text is positive", examples=[0.93])


class SentimentResponse(BaseModel):
    model: str = Field(description="the model that answered", examples=["sst2-lstm"])
    predictions: list[SentimentPrediction] = Field(description="one per input text, in input order")


# --- generation -----------------------------------------------------------------------------------
MAX_NEW_TOKENS = 2000
MAX_PROMPT_CHARS = 4000  # also on each generation card (preprocessing.max_chars)

Prompt = Annotated[str, Field(max_length=MAX_PROMPT_CHARS, examples=["ROMEO:"],
                              description=f"text to continue, up to {MAX_PROMPT_CHARS} characters from the model's "
                                          "vocabulary (GET /models); empty: start as if after a line break")]
MaxNewTokens = Annotated[int, Field(ge=1, le=MAX_NEW_TOKENS, examples=[200],
                                    description=f"characters to generate, 1 to {MAX_NEW_TOKENS}")]
# OpenAPI 3.0 (what BentoML publishes) spells an open bound as a boolean beside `minimum`; pydantic writes
# the JSON Schema 2020 number form, which OpenAPI 3.0 tools reject, so these bounds carry their own schema.
def _above_zero(maximum: float, **schema) -> WithJsonSchema:
    return WithJsonSchema({"type": "number", "minimum": 0.0, "exclusiveMinimum": True, "maximum": maximum, **schema})


Temperature = Annotated[float, Field(gt=0.0, le=2.0), _above_zero(
    2.0, default=0.8, examples=[0.8], description="in (0, 2]: lower is more conservative")]
MAX_TOP_K = 1000  # far above any character vocabulary; k at or above the vocabulary size means all
TopK = Annotated[int | None, Field(ge=1, le=MAX_TOP_K, examples=[40],
                                   description=f"sample among the k likeliest, 1 to {MAX_TOP_K}; null: all")]
TopP = Annotated[Annotated[float, Field(gt=0.0, le=1.0), _above_zero(1.0)] | None,
                 Field(examples=[0.95], description="sample from the smallest set reaching this probability; null: off")]
Seed = Annotated[int | None, Field(ge=0, le=2**63 - 1, examples=[7],
                                   description="same seed and body, same text; null: a fresh random seed")]
GenerationModel = Annotated[str | None, Field(description="a generation model listed by GET /models, optionally as name@version; "
                                                          "omitted: the best one by validation loss",
                                              examples=["shakespeare-lstm"])]


class GenerateResponse(BaseModel):
    model: str = Field(examples=["shakespeare-lstm"])
    text: str = Field(description="the generated continuation (without the prompt)")
    tokens_generated: int = Field(description="characters generated")
    finish_reason: str = Field(description="'length': max_new_tokens reached; 'time_limit': the wall-clock "
                                           "cap on one generation ended it; 'error': a step failed (logged on "
                                           "the server) and the text is what came before", examples=["length"])


# --- stock forecasting ----------------------------------------------------------------------------------
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


MAX_RECORD_CHARS = 1_000_000  # a record file's text; the largest set-a file is about 20 kB


# --- ICU vitals -------------------------------------------------------------------------------------------
class Observation(BaseModel):
    time: str = Field(description="HH:MM since ICU admission, 00:00 to 48:00", examples=["00:07"])
    parameter: str = Field(description="a PhysioNet 2012 parameter name (descriptors at 00:00, -1 = unknown)",
                           examples=["HR"])
    value: float = Field(description="in the records' units", examples=[73.0])


Observations = Annotated[
    list[Observation] | None,
    Field(max_length=MAX_OBSERVATIONS, description=f"the record's rows, at most {MAX_OBSERVATIONS}; send these or "
                                                   "`record`, not both",
          examples=[[{"time": "00:00", "parameter": "Age", "value": 54}, {"time": "00:00", "parameter": "Gender", "value": 0},
                     {"time": "00:00", "parameter": "ICUType", "value": 4}, {"time": "00:07", "parameter": "HR", "value": 73},
                     {"time": "00:07", "parameter": "NIMAP", "value": 92.33}, {"time": "00:07", "parameter": "RespRate", "value": 19},
                     {"time": "00:07", "parameter": "Temp", "value": 35.1}, {"time": "01:37", "parameter": "HR", "value": 60}]]),
]
RecordText = Annotated[
    str | None,
    Field(max_length=MAX_RECORD_CHARS, description="a record file's text as exported (`Time,Parameter,Value` CSV, "
                                                   "header optional); send this or `observations`",
          examples=["Time,Parameter,Value\n00:00,Age,54\n00:07,HR,73\n00:37,HR,77\n"]),
]
VitalsModel = Annotated[str | None, Field(description="a vitals model listed by GET /models, optionally as name@version; omitted: the best "
                                                      "by set-b mortality AUROC", examples=["vitals-gru"])]


class ClippedValue(BaseModel):
    time: str
    parameter: str
    value: float = Field(description="the value sent")
    clipped_to: float = Field(description="the physiological limit used instead (limits: the model's card)")


class VitalsResponse(BaseModel):
    model: str = Field(examples=["vitals-gru"])
    hours_observed: int = Field(description="hours from admission to the last observation; the model read these")
    mortality_risk: float = Field(description="risk of in-hospital death after the last observed hour", examples=[0.12])
    risk_by_hour: list[float] = Field(description="the risk after each hour 1..hours_observed")
    next_hour: dict[str, float] = Field(description="expected HR, MAP, SaO2, RespRate, Temp in the next hour",
                                        examples=[{"HR": 88.1, "MAP": 79.0, "SaO2": 97.2, "RespRate": 19.5, "Temp": 37.1}])
    clipped: list[ClippedValue] = Field(description="values outside physiological limits, and what was used instead")


# --- sessions ---------------------------------------------------------------------------------------------
SessionId = Annotated[str, Field(min_length=1, max_length=64, description="from /sessions/start",
                                 examples=["kq3Vb0l8mX2J1nQeZ6cT4w"])]
SessionModel = Annotated[str, Field(min_length=1, max_length=100,
                                    description="a vitals or generation model listed by GET /models",
                                    examples=["vitals-gru"])]
SessionText = Annotated[str | None, Field(max_length=MAX_PROMPT_CHARS, examples=["ROMEO:"],
                                   description=f"text sessions: characters to append, up to {MAX_PROMPT_CHARS} per "
                                               "step, from the model's vocabulary; may be empty")]
SessionObservations = Annotated[
    list[Observation] | None,
    Field(max_length=MAX_OBSERVATIONS, description="vitals sessions: the rows since the last step, in time order "
                                                   "(none for an hour the session has closed)",
          examples=[[{"time": "00:07", "parameter": "HR", "value": 73}]]),
]
ContinuationTokens = Annotated[int, Field(ge=0, le=MAX_NEW_TOKENS, examples=[0],
                                          description=f"text sessions: characters of continuation to sample, 0 to "
                                                      f"{MAX_NEW_TOKENS}; the session's state is not changed by it")]


class SessionStartResponse(BaseModel):
    session_id: str
    model: str = Field(examples=["vitals-gru"])
    task: str = Field(description="'vitals' or 'generation': which step fields apply", examples=["vitals"])
    expires_in_s: float = Field(description="idle seconds after which the session is evicted", examples=[900])


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


class SessionStepResponse(BaseModel):
    session_id: str
    model: str
    vitals: VitalsResponse | None = Field(description="vitals sessions: what /vitals gives for the whole stay so "
                                                      "far; null while the session has only descriptors (Age, ...)")
    generation: TextStepResult | None = Field(description="text sessions")


class SessionEndResponse(BaseModel):
    session_id: str
    ended: bool = True
