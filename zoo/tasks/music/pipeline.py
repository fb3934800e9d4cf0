"""`zoo.pipeline("music")`: a primer in, /music/generate's answer out; `.score(pieces)` as /music/score."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from zoo.sampling import seed_or_fresh
from zoo.task import InputError, Pipeline, check_option
from zoo.tasks.music.rolls import pitches_from_roll, roll_from_pitches

# Limits of one piece, in process and over HTTP (service/tasks/music.py reads them from here)
MAX_STEPS = 2000  # frames one generation writes
MAX_TEMPERATURE = 2.0


class MusicPipeline(Pipeline):
    def __call__(self, primer: list[list[int]] | None = None, steps: int = 64, temperature: float = 1.0,
                 seed: int | None = None) -> dict:
        """Continue the primer (frames of MIDI pitches sounding; None: from silence) a frame at a time ->
        {"model", "frames", "midi" (base64 MIDI file), "finish_reason"}; the same seed gives /music/generate's piece."""
        check_option("steps", steps, 1, MAX_STEPS, integer=True)
        check_option("temperature", temperature, 0.0, MAX_TEMPERATURE, above=True)
        check_option("seed", seed, 0, 2**63 - 1, optional=True, integer=True)
        roll = roll_from_pitches(primer or [], "primer")  # (P, 88)
        rng = np.random.default_rng(seed_or_fresh(seed))
        frames = self.predictor.continuation(roll, steps, rng, temperature)  # (steps, 88)
        return self.predictor.piece(pitches_from_roll(frames))

    def score(self, pieces: list[list[list[int]]]) -> dict:
        """Each piece's mean negative log-likelihood per frame, in nats -> {"model", "nll", "frames"}."""
        if not isinstance(pieces, (list, tuple)) or not pieces:
            raise InputError("pieces: send a non-empty list of pieces, each a non-empty list of frames")
        rolls = [roll_from_pitches(piece, f"piece {i}") for i, piece in enumerate(pieces)]
        if empty := [i for i, roll in enumerate(rolls) if not len(roll)]:
            raise InputError(f"piece {empty[0]} has no frames; each piece needs at least one")
        return self.predictor.scores(rolls, self.predictor.run(rolls))

    def from_command_line(self, inputs: list[str], options: dict) -> dict:
        """Nothing (start from silence), or the primer as JSON frames (`[[60, 64, 67], [62]]`) or a file of them."""
        if len(inputs) > 1:
            raise InputError("send at most one primer: JSON frames such as [[60,64,67],[62]], or a file of them")
        if not inputs:
            return self(**options)
        text = Path(inputs[0]).read_text() if Path(inputs[0]).is_file() else inputs[0]
        try:
            primer = json.loads(text)
        except json.JSONDecodeError as error:
            raise InputError(f"the primer is not JSON frames such as [[60,64,67],[62]]: {error}") from None
        return self(primer, **options)
