"""`zoo.pipeline("speech")`: a WAV file (path or bytes) or samples in, /transcribe's answer out."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from zoo.task import InputError, Pipeline
from zoo.tasks.speech.audio import AudioError, recording, wav_recording


def samples_of(audio, sample_rate: int | None) -> tuple[np.ndarray, float]:
    """A WAV file's path or bytes, or (N,) samples in [-1, 1] at `sample_rate` -> ((N',) samples at 8 kHz, seconds)."""
    if isinstance(audio, np.ndarray):
        if audio.ndim != 1 or not np.issubdtype(audio.dtype, np.floating) or not sample_rate or sample_rate <= 0:
            raise AudioError("samples must be a 1-D float array in [-1, 1] with its sample_rate (Hz)")
        return recording(audio.astype(np.float32), int(sample_rate))
    if sample_rate is not None:
        raise InputError("sample_rate is for raw samples only: a WAV file says its own")
    if isinstance(audio, (str, os.PathLike)):
        audio = Path(audio).read_bytes()
    if not isinstance(audio, (bytes, bytearray, memoryview)):
        raise InputError(f"audio must be a WAV file's path or bytes, or a float array; got {type(audio).__name__}")
    return wav_recording(bytes(audio))


class SpeechPipeline(Pipeline):
    def __call__(self, audio: str | os.PathLike | bytes | np.ndarray, sample_rate: int | None = None) -> dict:
        """The digits spoken in a recording, alone or as a string -> {"model", "text", "digits": [{"digit",
        "start_s", "end_s", "confidence"}, ...], "duration_s"}."""
        samples, seconds = samples_of(audio, sample_rate)
        return self.predictor.answer(self.predictor.transcribe(samples), seconds)

    def from_command_line(self, inputs: list[str], options: dict) -> dict:
        if len(inputs) != 1:
            raise InputError(f"send one WAV file, got {len(inputs)} inputs")
        return self(Path(inputs[0]), **options)
