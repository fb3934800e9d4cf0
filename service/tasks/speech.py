"""Spoken digits over HTTP: POST /transcribe (a WAV recording as base64 JSON), POST /transcribe/file (the same as a
multipart file upload), and sessions that take audio chunk by chunk and answer with the digits heard so far.
Decoding, resampling and features run off the event loop; the models' calls merge across requests and sessions."""
from __future__ import annotations

import asyncio
import base64
import binascii
import io
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar

import bentoml
import numpy as np
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, Field

from service.core import ModelServer, unavailable_as_503
from service.sessions import Session, StepInputError
from zoo.task import InputError
from zoo.tasks.speech import TASK
from zoo.tasks.speech.audio import (
    ACCEPTED,
    MAX_SECONDS,
    SAMPLE_RATE,
    AudioError,
    FeatureState,
    RunningMean,
    resample,
    wav_recording,
)
from zoo.tasks.speech.ctc import Digit
from zoo.tasks.speech.predictor import SpeechPredictor, Transcription, heard

MAX_AUDIO_CHARS = 4 * 1024 * 1024  # base64 characters; the request body limit (RNNZOO_MAX_BODY_BYTES) comes first
MAX_BATCH_RECORDINGS, MAX_QUEUED_RECORDINGS = 32, 256
MAX_CHUNK_SECONDS = 10  # per session step
MAX_STREAM_SECONDS = 600  # per session: a bound on what one client may hold a session open with
RAW_RATES = (8000, 11025, 16000, 22050, 32000, 44100, 48000)  # raw PCM chunks: 16-bit little-endian mono


def _silence(samples: int = 240) -> str:
    """base64 of a WAV of 30 ms of silence: the OpenAPI example (it transcribes to no digits)."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(SAMPLE_RATE)
        writer.writeframes(b"\0\0" * samples)
    return base64.b64encode(buffer.getvalue()).decode()


Audio = Annotated[str, Field(min_length=1, max_length=MAX_AUDIO_CHARS, examples=[_silence()],
                             description=f"base64 of a WAV file: {ACCEPTED}; at most {MAX_SECONDS} s")]
SpeechModel = Annotated[str | None, Field(description="a speech model listed by GET /models, optionally as "
                                                      "name@version; omitted: the best by isolated-digit accuracy",
                                          examples=["digits-gru"])]


class HeardDigit(BaseModel):
    digit: int = Field(ge=0, le=9)
    start_s: float = Field(description="from the start of the recording")
    end_s: float
    confidence: float = Field(ge=0.0, le=1.0, description="the model's mean probability of this digit over its steps")


class TranscribeResponse(BaseModel):
    model: str = Field(examples=["digits-gru"])
    text: str = Field(description="the digits heard, separated by spaces; empty when none", examples=["4 1 5"])
    digits: list[HeardDigit]
    duration_s: float = Field(description="the recording's length")


def base64_bytes(audio: str, what: str) -> bytes:
    try:
        return base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidArgument(f"audio is not valid base64; send {what} base64-encoded") from None


def wav_samples(data: bytes, limit_s: float, hint: str) -> tuple[np.ndarray, float]:
    """WAV bytes -> ((N,) samples at 8 kHz, seconds); InvalidArgument saying what is wrong."""
    try:
        return wav_recording(data, limit_s, hint)
    except AudioError as error:
        raise InvalidArgument(f"audio: {error}") from None


def decoded_audio(audio: str) -> tuple[np.ndarray, float]:
    """base64 WAV -> ((N,) samples at 8 kHz, seconds)."""
    return wav_samples(base64_bytes(audio, "the WAV file's bytes"), MAX_SECONDS,
                       ": send shorter pieces, or stream it through a session")


def chunk_samples(audio: str, sample_rate: int) -> np.ndarray:
    """A session step's chunk: base64 of a WAV file, or of raw 16-bit little-endian mono PCM at `sample_rate`
    -> (N,) samples at 8 kHz. Chunks at other rates than 8 kHz are resampled one by one, so their joins are
    not exactly the whole recording's; send 8 kHz for results identical to /transcribe."""
    data = base64_bytes(audio, "a WAV file's bytes or raw 16-bit little-endian mono PCM")
    if data[:4] == b"RIFF":
        return wav_samples(data, MAX_CHUNK_SECONDS, " per step: send it in smaller chunks")[0]
    if sample_rate not in RAW_RATES:
        raise StepInputError(f"sample_rate {sample_rate} is not one of {', '.join(map(str, RAW_RATES))} (Hz)")
    if len(data) % 2:
        raise StepInputError(f"raw audio is {len(data)} bytes, an odd number; raw chunks are 16-bit little-endian "
                             "mono PCM (2 bytes a sample), or send WAV files")
    if len(data) // 2 > MAX_CHUNK_SECONDS * sample_rate:
        raise StepInputError(f"the chunk lasts {len(data) / 2 / sample_rate:.1f} s; the maximum is "
                             f"{MAX_CHUNK_SECONDS} s per step: send it in smaller chunks")
    samples = (np.frombuffer(data, dtype="<i2") / 32768.0).astype(np.float32)
    return resample(samples, sample_rate, SAMPLE_RATE)


ChunkAudio = Annotated[str | None, Field(
    min_length=0, max_length=MAX_AUDIO_CHARS, examples=[_silence(800)],
    description=f"speech sessions: the next chunk of audio, base64 of a WAV file or of raw 16-bit little-endian "
                f"mono PCM at `sample_rate`; at most {MAX_CHUNK_SECONDS} s per step, {MAX_STREAM_SECONDS} s per "
                "session; may be empty")]
ChunkRate = Annotated[int, Field(examples=[SAMPLE_RATE], description="speech sessions: the rate of raw PCM chunks, "
                                 f"one of {', '.join(map(str, RAW_RATES))} Hz (a WAV chunk says its own)")]


class SpeechStepResult(BaseModel):
    seconds_heard: float = Field(description="audio received by the session so far, at 8 kHz")
    text: str = Field(description="the digits heard so far, as if the stream ended here", examples=["4 1 5"])
    digits: list[HeardDigit]


@dataclass(eq=False, kw_only=True)
class SpeechSession(Session):
    """An audio stream so far: the preprocessing's state, the digits heard, and the network's state (the
    session's `state`, kept equal to the stream's)."""
    stream: Transcription

    step_fields: ClassVar[dict[str, tuple[Any, Any]]] = {"audio": (ChunkAudio, None),
                                                         "sample_rate": (ChunkRate, SAMPLE_RATE)}
    primary_field: ClassVar[str] = "audio"
    primary_hint: ClassVar[str] = " (a chunk of audio, may be empty)"
    kind: ClassVar[str] = TASK.name
    describe: ClassVar[str] = TASK.name
    answer_field: ClassVar[str] = TASK.name
    answer_schema: ClassVar[tuple[Any, Any]] = (SpeechStepResult | None, Field(description="speech sessions"))
    stored_types: ClassVar[tuple[type, ...]] = (Transcription, FeatureState, RunningMean, Digit)

    @classmethod
    def accepts(cls, predictor: SpeechPredictor) -> bool:
        return predictor.streams

    @classmethod
    def open(cls, predictor: SpeechPredictor) -> dict[str, Any]:
        try:
            return {"stream": predictor.open_stream()}
        except InputError as error:  # a bidirectional model: whole recordings only
            raise InvalidArgument(str(error)) from None

    async def step(self, server: "SpeechEndpoints", fields: dict[str, Any]) -> SpeechStepResult:
        predictor: SpeechPredictor = server.zoo.predictors[self.model]
        samples = await asyncio.to_thread(chunk_samples, fields["audio"], fields["sample_rate"])
        if (self.stream.samples + len(samples)) / SAMPLE_RATE > MAX_STREAM_SECONDS:
            raise StepInputError(f"the session would hold {(self.stream.samples + len(samples)) / SAMPLE_RATE:.1f} s "
                                 f"of audio; a session takes at most {MAX_STREAM_SECONDS} s: start a new one")
        batcher = server.session_batcher(predictor)
        try:
            steps = await asyncio.to_thread(predictor.chunk_steps, self.stream, samples)  # (S, 120)
            if len(steps):
                (logits,), self.state = await batcher.submit(steps, self.state)
                self.stream.hear(logits)
                self.stream.state = self.state
            ending = await asyncio.to_thread(predictor.ending_steps, self.stream)  # (S', 120)
            (tail,), _ = await batcher.submit(ending, self.state)
        except asyncio.CancelledError:  # the client went away mid-step: the stream may be ahead of the state
            server.sessions.discard(self)
            raise
        except Exception:
            raise server.failed_step(self) from None
        return SpeechStepResult(seconds_heard=round(self.stream.samples / SAMPLE_RATE, 4),
                                **heard(self.stream.digits(tail)))


class SpeechEndpoints(ModelServer):
    session = SpeechSession
    upload_routes = ("/transcribe/file",)

    @bentoml.api(route="/transcribe")
    @unavailable_as_503
    async def transcribe(self, audio: Audio, model: SpeechModel = None) -> TranscribeResponse:
        """The digits spoken in a WAV recording, alone or as a string, with when each was heard."""
        return await self._transcribe(model, decoded_audio, audio)

    @bentoml.api(route="/transcribe/file")
    @unavailable_as_503
    async def transcribe_file(self, audio: Annotated[Path, Field(description=f"a WAV file: {ACCEPTED}; at most "
                                                                             f"{MAX_SECONDS} s")],
                              model: SpeechModel = None) -> TranscribeResponse:
        """/transcribe for a multipart/form-data upload: the WAV file as the `audio` part (`curl -F audio=@x.wav`)."""
        data = await asyncio.to_thread(Path(audio).read_bytes)
        return await self._transcribe(model, lambda raw: wav_samples(raw, MAX_SECONDS, ": send shorter pieces, or "
                                                                     "stream it through a session"), data)

    async def _transcribe(self, model: str | None, decode, audio) -> TranscribeResponse:
        predictor = self.model(TASK.name, model)

        def prepared() -> tuple[np.ndarray, float]:
            samples, seconds = decode(audio)
            return predictor.features(samples), seconds  # (S, 120)

        features, seconds = await asyncio.to_thread(prepared)
        (logits,) = await self.predict(predictor, [features], MAX_BATCH_RECORDINGS, MAX_QUEUED_RECORDINGS)
        return TranscribeResponse(**predictor.answer(predictor.decode(logits), seconds))
