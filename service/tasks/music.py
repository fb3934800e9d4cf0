"""POST /music/generate, /music/generate_stream, /music/score and music sessions: request and response bodies,
the adapter from pitch lists to piano rolls, and a session that keeps a piece's state and continues it. Frames
are sampled by the step scheduler (service/step_scheduler.py), so concurrent pieces share onnxruntime calls."""
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
from service.step_scheduler import CapacityError, SamplingParams, StepScheduler, Stream
from zoo.sampling import seed_or_fresh
from zoo.task import InputError
from zoo.tasks.music import TASK
from zoo.tasks.music.pipeline import MAX_STEPS, MAX_TEMPERATURE  # the pipeline's limits too
from zoo.tasks.music.predictor import MusicPredictor
from zoo.tasks.music.rolls import (
    HIGHEST_PITCH,
    KEYS,
    LOWEST_PITCH,
    MIDI_TEMPO_BPM,
    after_start,
    conditional_logits,
    draw_frames,
    frame_nll,
    pitches_from_roll,
    roll_from_pitches,
)

MAX_PRIMER_FRAMES = 2000
MAX_PIECE_FRAMES = 10_000  # a scored piece, as on each music card (preprocessing.max_chars)
MAX_PIECES = 64  # pieces per /music/score request
MAX_SCORE_FRAMES = 100_000  # all pieces of one /music/score request together (Nottingham validdata: 45,513)
MAX_BATCH_PIECES, MAX_QUEUED_PIECES = 64, 512  # pieces per call of the score batcher, and waiting
MAX_STREAMS_PER_MODEL = 64  # live generations per model; one more gets 429
MAX_GENERATION_SECONDS = 120.0

Pitch = Annotated[int, Field(ge=LOWEST_PITCH, le=HIGHEST_PITCH)]
Frame = Annotated[list[Pitch], Field(max_length=KEYS)]
PIECE_EXAMPLE = [[60, 64, 67], [60, 64, 67], [62, 65, 69], [59, 62, 67]]
Primer = Annotated[list[Frame] | None, Field(
    max_length=MAX_PRIMER_FRAMES, examples=[PIECE_EXAMPLE],
    description=f"frames to continue, up to {MAX_PRIMER_FRAMES}: each the MIDI pitches sounding in it "
                f"({LOWEST_PITCH}-{HIGHEST_PITCH}, [] for silence); omitted: start from silence")]
Steps = Annotated[int, Field(ge=1, le=MAX_STEPS, examples=[64], description=f"frames to generate, 1 to {MAX_STEPS}")]


# OpenAPI 3.0 spells an open bound as a boolean beside `minimum` (see service/tasks/generation.py).
Temperature = Annotated[float, Field(gt=0.0, le=MAX_TEMPERATURE), WithJsonSchema(
    {"type": "number", "minimum": 0.0, "exclusiveMinimum": True, "maximum": MAX_TEMPERATURE, "default": 1.0,
     "examples": [1.0],
     "description": "in (0, 2]: each key's logit is divided by it; lower is more conservative"})]
Seed = Annotated[int | None, Field(ge=0, le=2**63 - 1, examples=[7],
                                   description="same seed and body, same piece; null: a fresh random seed")]
MusicModel = Annotated[str | None, Field(description="a music model listed by GET /models, optionally as "
                                                     "name@version; omitted: the best by validation NLL per frame",
                                         examples=["jsb-gru"])]
Pieces = Annotated[list[Annotated[list[Frame], Field(min_length=1, max_length=MAX_PIECE_FRAMES)]], Field(
    min_length=1, max_length=MAX_PIECES, examples=[[PIECE_EXAMPLE]],
    description=f"1 to {MAX_PIECES} pieces, each 1 to {MAX_PIECE_FRAMES:,} frames ({MAX_SCORE_FRAMES:,} in all) "
                f"of MIDI pitches ({LOWEST_PITCH}-{HIGHEST_PITCH})")]
SessionFrames = Annotated[list[Frame] | None, Field(
    max_length=MAX_PRIMER_FRAMES, examples=[PIECE_EXAMPLE],
    description=f"music sessions: frames to append, up to {MAX_PRIMER_FRAMES} per step; may be empty")]
ContinuationSteps = Annotated[int, Field(ge=0, le=MAX_STEPS, examples=[0],
                                         description=f"music sessions: frames of continuation to sample, 0 to "
                                                     f"{MAX_STEPS}; the session's state is not changed by it")]


class GenerateMusicResponse(BaseModel):
    model: str = Field(examples=["jsb-gru"])
    frames: list[list[int]] = Field(description="the generated frames (without the primer): MIDI pitches sounding "
                                                "in each")
    midi: str = Field(description=f"base64 of a format-0 standard MIDI file of the generated frames: "
                                   f"{MIDI_TEMPO_BPM} bpm, one frame = an eighth note (0.25 s), a pitch held over "
                                   "frames = one note")
    finish_reason: str = Field(description="'length': all steps written; 'time_limit': the wall-clock cap ended "
                                           "it; 'error': a step failed (logged on the server)", examples=["length"])


class ScoreResponse(BaseModel):
    model: str = Field(examples=["jsb-gru"])
    nll: list[float] = Field(description="each piece's mean negative log-likelihood per frame, in nats (the card's "
                                         "metric: the first frame predicted from silence)")
    frames: list[int] = Field(description="frames per piece")


class MusicStepResult(BaseModel):
    frames_seen: int = Field(description="frames the session has been sent in all")
    nll: float | None = Field(description="mean NLL per frame (nats) of the frames this step sent, given all "
                                          "before them; null when it sent none")
    likely_pitches: list[int] = Field(description="the likeliest next frame, decided key by key from the lowest "
                                                  "(each key on when likelier than not given those below)")
    probabilities: list[float] = Field(description=f"P(each of the {KEYS} keys sounds in the next frame | the keys "
                                                   f"below it as in likely_pitches), key 0 = MIDI {LOWEST_PITCH}, "
                                                   "temperature 1; for independent-key models simply P(key sounds)")
    # Arrays are never null in answers: BentoML's own client (SyncHTTPClient) fails on a null array.
    continuation: list[list[int]] = Field(description="sampled frames when steps > 0, else empty (not stored: send "
                                                      "them back as `frames` to keep them)")
    finish_reason: str | None = Field(description="as /music/generate's, when there is a continuation")


def rolls_of(pieces: list[list[list[int]]], what: str) -> list[np.ndarray]:
    try:
        return [roll_from_pitches(frames, f"{what} {i}" if len(pieces) > 1 else what)
                for i, frames in enumerate(pieces)]
    except InputError as error:
        raise InvalidArgument(str(error)) from None


class FrameSampler:
    """Draws each frame key by key, lowest first, each with P = sigmoid(conditional logit / temperature), one
    generator per stream (rng.random(88) per frame, as MusicPredictor.continuation: the same seed writes the same
    piece, batched or not)."""

    def __init__(self, coupling: np.ndarray):
        self.coupling = coupling  # (88, 88) the model's key coupling

    def sample(self, logits: np.ndarray, streams: list[Stream]) -> np.ndarray:
        """(B, 88) logits -> (B, 88) float32 0/1 frames."""
        temperature = np.array([s.params.temperature for s in streams])[:, None]  # (B, 1)
        uniform = np.stack([s.rng.random(KEYS) for s in streams])  # (B, 88)
        return draw_frames(logits, self.coupling, uniform, temperature)[0]

    def item(self, row: np.ndarray) -> list[int]:
        return pitches_from_roll(row[None])[0]


def music_params(steps: int, temperature: float, seed: int | None) -> SamplingParams:
    return SamplingParams(steps, temperature, None, None, seed_or_fresh(seed))


@dataclass(eq=False, kw_only=True)
class MusicSession(Session):
    """A piece so far: the state after it and the next frame's logits (None before any frame)."""
    logits: np.ndarray | None = None
    frames: int = 0

    step_fields: ClassVar[dict[str, tuple[Any, Any]]] = {
        "frames": (SessionFrames, None), "steps": (ContinuationSteps, 0), "temperature": (Temperature, 1.0),
        "seed": (Seed, None)}
    primary_field: ClassVar[str] = "frames"
    primary_hint: ClassVar[str] = " (may be empty)"
    kind: ClassVar[str] = TASK.name
    describe: ClassVar[str] = TASK.name
    answer_field: ClassVar[str] = TASK.name
    answer_schema: ClassVar[tuple[Any, Any]] = (MusicStepResult | None, Field(description="music sessions"))

    async def step(self, server: "MusicEndpoints", fields: dict[str, Any]) -> MusicStepResult:
        predictor = server.zoo.predictors[self.model]
        (roll,) = rolls_of([fields["frames"]], "frames")
        params = music_params(fields["steps"], fields["temperature"], fields["seed"])
        batcher = server.session_batcher(predictor)
        nll = None
        try:
            heard = roll if self.logits is not None else after_start(roll)
            if len(heard):
                (logits,), self.state = await batcher.submit(heard, self.state)  # (t, 88)
                before = logits[:-1] if self.logits is None else np.vstack([self.logits[None], logits[:-1]])
                if len(roll):
                    nll = float(frame_nll(conditional_logits(before, predictor.coupling, roll), roll).mean())
                self.logits, self.frames = logits[-1], self.frames + len(roll)
        except Exception:
            raise server.failed_step(self) from None
        continuation, finish_reason = [], None
        if params.max_new_tokens:
            scheduler = server.frame_scheduler(predictor)
            try:
                stream = scheduler.start_after(self.logits, self.state, params)
            except CapacityError as error:
                raise BentoMLException(str(error), error_code=HTTPStatus.TOO_MANY_REQUESTS) from None
            continuation = [frame async for frames in scheduler.items(stream) for frame in frames]
            finish_reason = stream.finish_reason
        likely, probabilities = draw_frames(self.logits[None].astype(np.float64), predictor.coupling,
                                            np.full((1, KEYS), 0.5))  # greedy: each key on when likelier than not
        return MusicStepResult(frames_seen=self.frames, nll=nll,
                               probabilities=[round(float(p), 6) for p in probabilities[0]],
                               likely_pitches=pitches_from_roll(likely)[0], continuation=continuation,
                               finish_reason=finish_reason)


class MusicEndpoints(ModelServer):
    session = MusicSession

    def prepare(self) -> None:
        # Primers run here; each model's scheduler steps its pieces on a thread of its own.
        self.primer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="primers")
        self.frame_schedulers: dict[str, StepScheduler] = {}

    def frame_scheduler(self, predictor: MusicPredictor) -> StepScheduler:
        if predictor.name not in self.frame_schedulers:
            self.frame_schedulers[predictor.name] = StepScheduler(
                predictor, FrameSampler(predictor.coupling), self.primer_thread, MAX_STREAMS_PER_MODEL,
                MAX_GENERATION_SECONDS)
        return self.frame_schedulers[predictor.name]

    async def _start_piece(self, primer: list[list[int]] | None, params: SamplingParams, model: str | None):
        predictor = self.model(TASK.name, model)
        (roll,) = rolls_of([primer or []], "primer")
        scheduler = self.frame_scheduler(predictor)
        try:
            stream = await scheduler.start(after_start(roll), params)
        except CapacityError as error:
            raise BentoMLException(str(error), error_code=HTTPStatus.TOO_MANY_REQUESTS) from None
        return predictor, scheduler, stream

    @bentoml.api(route="/music/generate")
    @unavailable_as_503
    async def music_generate(self, primer: Primer = None, steps: Steps = 64, temperature: Temperature = 1.0,
                             seed: Seed = None, model: MusicModel = None) -> GenerateMusicResponse:
        """Continue the primer (or start from silence), a frame at a time; with a seed the same body gives the
        same piece. The answer carries the frames as MIDI pitches and as a MIDI file."""
        predictor, scheduler, stream = await self._start_piece(primer, music_params(steps, temperature, seed), model)
        frames = [frame async for chunk in scheduler.items(stream) for frame in chunk]
        return GenerateMusicResponse(**predictor.piece(frames, stream.finish_reason))

    @bentoml.api(route="/music/generate_stream")
    @unavailable_as_503
    async def music_generate_stream(self, primer: Primer = None, steps: Steps = 64, temperature: Temperature = 1.0,
                                    seed: Seed = None, model: MusicModel = None) -> str:
        """The same generation as /music/generate, as server-sent events: one `data: {"frame": [pitches]}` event
        per frame, then an `event: done` whose data carries the model, the frames, the MIDI file and the reason."""
        predictor, scheduler, stream = await self._start_piece(primer, music_params(steps, temperature, seed), model)

        async def events():
            frames = []
            async for chunk in scheduler.items(stream):  # all that is ready: one write, an event each
                frames.extend(chunk)
                yield "".join(f"data: {json.dumps({'frame': frame})}\n\n" for frame in chunk)
            yield f"event: done\ndata: {json.dumps(predictor.piece(frames, stream.finish_reason))}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @bentoml.api(route="/music/score")
    @unavailable_as_503
    async def music_score(self, pieces: Pieces, model: MusicModel = None) -> ScoreResponse:
        """Each piece's mean negative log-likelihood per frame under the model, as the card measures it."""
        predictor = self.model(TASK.name, model)
        total = sum(len(piece) for piece in pieces)
        if total > MAX_SCORE_FRAMES:
            raise InvalidArgument(f"the pieces have {total:,} frames in all; the maximum per request is "
                                  f"{MAX_SCORE_FRAMES:,}: send them in several requests")
        rolls = rolls_of(pieces, "piece")
        losses = await self.predict(predictor, rolls, MAX_BATCH_PIECES, MAX_QUEUED_PIECES)
        return ScoreResponse(**predictor.scores(rolls, losses))
