"""Speech predictor: audio -> log-mel frames -> running normalisation -> steps of three frames -> a step-capable
ONNX graph (features + state in, per-step digit and blank scores + state out) -> the digits on the best CTC path.
A stream (Transcription) carries the preprocessing's and the network's state between chunks, so a recording sent
in pieces is heard exactly as the whole."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zoo.cards import CardError, ModelCard
from zoo.checks import expect, expect_step_graph
from zoo.predictor import RecurrentPredictor
from zoo.task import InputError
from zoo.tasks.speech.audio import (
    END_SILENCE_S,
    LEAD_IN_STEPS,
    MEL_BANDS,
    SAMPLE_RATE,
    STEP_FEATURES,
    FeatureState,
    feature_steps,
    recording_steps,
)
from zoo.tasks.speech.ctc import BLANK, CLASSES, Digit, greedy_digits


def heard(digits: list[Digit]) -> dict:
    """{"text": "4 1 5", "digits": [{"digit", "start_s", "end_s", "confidence"}, ...]}: what a transcription and
    a session's step both answer."""
    return {"text": " ".join(str(d.digit) for d in digits), "digits": [vars(d).copy() for d in digits]}


class SpeechPredictor(RecurrentPredictor):
    """Card + feature statistics + step-capable ONNX session of one digit recogniser.

    The graph takes `features (B, S, 120)` (steps of three normalised log-mel frames, 30 ms apart) and the state
    (`h0`, and `c0` for LSTMs), and returns `logits (B, S, 11)` (digits 0-9, then the blank) and the new state.
    """

    task = "speech"
    primary_input = "features"

    @staticmethod
    def check_contract(card: ModelCard) -> None:
        features = ("features", "float32", ["batch", "sequence", STEP_FEATURES])
        logits = ("logits", "float32", ["batch", "sequence", CLASSES])
        if card.architecture.bidirectional:  # whole recordings: the real length of each padded row, no state
            expect(f"{card.name} (speech, bidirectional) inputs", card.inputs, [features, ("lengths", "int64", ["batch"])])
            expect(f"{card.name} (speech, bidirectional) outputs", card.outputs, [logits])
        else:
            expect_step_graph(card, [features], [logits])

    @property
    def streams(self) -> bool:
        """Whether the model can take audio chunk by chunk (sessions): unidirectional ones only."""
        return not self.card.architecture.bidirectional

    def load_preprocessing(self) -> None:
        super().load_preprocessing()
        if not self.streams:  # its `lengths` input is no state
            self.state_names, self.state_shapes = [], []
        statistics = self.card.preprocessing.statistics
        try:
            self.mean = np.asarray(statistics["mean"], dtype=np.float32)
            self.std = np.asarray(statistics["std"], dtype=np.float32)
            if self.mean.shape != (MEL_BANDS,) or self.std.shape != (MEL_BANDS,) or not (self.std > 0).all():
                raise ValueError(f"mean and std must be {MEL_BANDS} numbers, std > 0")
            if int(statistics["sample_rate"]) != SAMPLE_RATE:
                raise ValueError(f"sample_rate {statistics['sample_rate']} is not {SAMPLE_RATE}")
        except (KeyError, TypeError, ValueError) as error:
            raise CardError(f"{self.card.name}: preprocessing.statistics is incomplete: {error}") from None

    def features(self, samples: np.ndarray) -> np.ndarray:
        """(N,) samples at 8 kHz of a whole recording -> (S, 120) steps: LEAD_IN_STEPS of silence, the recording's
        own steps, then END_SILENCE_S of silence."""
        return recording_steps(samples, self.mean, self.std)

    def run(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        """(S_i, 120) steps of whole recordings -> (S_i, 11) logits each, in one right-padded call."""
        width = max(1, max(len(row) for row in rows))
        inputs = np.zeros((len(rows), width, STEP_FEATURES), dtype=np.float32)  # (B, S, 120)
        for i, row in enumerate(rows):
            inputs[i, : len(row)] = row
        if not self.streams:
            lengths = np.array([max(1, len(row)) for row in rows], dtype=np.int64)  # (B,)
            (logits,) = self.session.run(None, {"features": inputs, "lengths": lengths})
        else:
            (logits,), _ = self.step(inputs, self.initial_state(len(rows)))
        return [logits[i, : len(row)] for i, row in enumerate(rows)]

    def transcribe(self, samples: np.ndarray) -> list[Digit]:
        """(N,) samples at 8 kHz -> the digits heard, in order."""
        (logits,) = self.run([self.features(samples)])
        return self.decode(logits)

    def answer(self, digits: list[Digit], seconds: float) -> dict:
        """The answer of /transcribe and of the pipeline: {"model", "text", "digits", "duration_s"}."""
        return {"model": self.name, **heard(digits), "duration_s": round(seconds, 4)}

    @staticmethod
    def decode(logits: np.ndarray) -> list[Digit]:
        """(S, 11) logits of a whole recording, lead-in included -> the digits heard, timed in the audio's own time."""
        return greedy_digits(logits, first_step=-LEAD_IN_STEPS)

    def chunk_steps(self, stream: "Transcription", samples: np.ndarray) -> np.ndarray:
        """The next chunk of a stream (N,) -> its (S, 120) steps; the stream's preprocessing state advances."""
        steps, stream.features = feature_steps(samples, self.mean, self.std, stream.features)
        stream.samples += len(samples)
        return steps

    def ending_steps(self, stream: "Transcription") -> np.ndarray:
        """(S, 120) steps of END_SILENCE_S of silence after the stream so far, the stream left as it was: run from
        the stream's state and thrown away, they let its last digit out as if it had ended here."""
        ending, _ = feature_steps(np.zeros(int(END_SILENCE_S * SAMPLE_RATE), np.float32), self.mean, self.std,
                                  stream.features)
        return ending

    def listen(self, stream: "Transcription", samples: np.ndarray) -> list[Digit]:
        """Feed the next chunk of a stream -> the digits heard so far, as if the stream ended here. (In process;
        the service's sessions do the same with their calls merged across sessions.)"""
        steps = self.chunk_steps(stream, samples)
        if len(steps):
            (logits,), stream.state = self.step(steps[None], stream.state)
            stream.hear(logits[0])
        (tail,), _ = self.step(self.ending_steps(stream)[None], stream.state)
        return stream.digits(tail[0])

    def open_stream(self) -> "Transcription":
        if not self.streams:
            raise InputError(f"{self.name} is bidirectional: it hears each step's future too, so it needs the whole "
                             "recording (/transcribe); stream with a unidirectional model such as digits-gru")
        return Transcription(state=self.initial_state(1))


@dataclass
class Transcription:
    """One audio stream's state between chunks: the preprocessing's, the network's, and what has been heard.

    Decoding is incremental, so a step costs the same at second 1 and at second 500: the best path's runs that
    have ended are decoded once into `settled`, and only the last run's logits are kept (`pending`), since the
    next chunk may continue it."""
    state: list[np.ndarray]  # the network's, [(L, 1, H), ...] after every step so far
    features: FeatureState | None = None  # the preprocessing's; None before the first chunk
    settled: list[Digit] = field(default_factory=list)  # digits whose run on the best path has ended
    pending: np.ndarray = field(default_factory=lambda: np.zeros((0, CLASSES), np.float32))  # (s, 11) last run
    pending_from: int = -LEAD_IN_STEPS  # the step number of pending's first step; the audio's first is 0
    samples: int = 0

    def hear(self, logits: np.ndarray) -> None:
        """Take the next (S, 11) logits of the stream."""
        if not len(logits):
            return
        pending = np.vstack([self.pending, logits])
        best = pending.argmax(axis=-1)  # (s + S,)
        last_run = int(np.flatnonzero(np.diff(best))[-1]) + 1 if (np.diff(best) != 0).any() else 0
        self.settled += greedy_digits(pending[:last_run], first_step=self.pending_from)
        if best[-1] == BLANK:  # a run of blanks says nothing, and whatever follows it is a new digit
            last_run = len(pending)
        self.pending, self.pending_from = pending[last_run:], self.pending_from + last_run

    def digits(self, tail: np.ndarray) -> list[Digit]:
        """The digits on the best path through every step so far, then `tail` (S, 11): an ending's logits."""
        return self.settled + greedy_digits(np.vstack([self.pending, tail]), first_step=self.pending_from)
