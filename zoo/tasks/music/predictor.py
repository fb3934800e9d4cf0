"""Music predictor: a step-capable ONNX graph (frames + state in, next-frame logits + state out), so a piece
is scored in one call and each generated frame costs one more."""
from __future__ import annotations

import base64
from pathlib import Path

import numpy as np

from zoo.cards import ModelCard
from zoo.checks import expect_step_graph
from zoo.predictor import RecurrentPredictor
from zoo.tasks.music.rolls import KEYS, after_start, conditional_logits, draw_frames, frame_nll, midi_file, model_inputs

FRAMES_PER_CALL = 65_536  # padded frames (pieces x longest) one scoring call reads: about 23 MB of inputs


class MusicPredictor(RecurrentPredictor):
    """Card + step-capable ONNX session of one piano-roll model.

    The graph takes `frames (B, T, 88)` float 0/1 and the state (`h0`, and `c0` for LSTMs), and returns
    `logits (B, T, 88)` of each key sounding in the frame after each given the state, `key_coupling (88, 88)`
    (how the keys below a key in the same frame move its logit; zeros for independent keys) and the new state.
    `step` returns the logits and the state only: the coupling is constant, read once at load.
    """

    task = "music"
    primary_input = "frames"

    def __init__(self, directory: Path, providers: list[str] | None = None, with_session: bool = True,
                 threads: int = 1):
        super().__init__(directory, providers, with_session, threads)
        self.coupling = None
        if self.session is not None:
            zeros = np.zeros((1, 1, KEYS), np.float32)
            feeds = {self.primary_input: zeros, **dict(zip(self.state_names, self.initial_state(1)))}
            self.coupling = self.session.run(["key_coupling"], feeds)[0].astype(np.float32)  # (88, 88)

    @staticmethod
    def check_contract(card: ModelCard) -> None:
        expect_step_graph(card, [("frames", "float32", ["batch", "sequence", KEYS])],
                          [("logits", "float32", ["batch", "sequence", KEYS]), ("key_coupling", "float32", [KEYS, KEYS])])

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """frames (B, T, 88) from state [(L, B, H), ...] -> ([logits (B, T, 88)], the state after them)."""
        results = self.session.run(None, {self.primary_input: inputs, **dict(zip(self.state_names, state))})
        return [results[0]], results[2:]

    def run(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        """(T_i, 88) rolls, each read from the start state -> (T_i,) NLL of each frame in nats. Pieces of similar
        length share a call (right padding cannot change a unidirectional model's earlier outputs), at most
        FRAMES_PER_CALL padded frames a call."""
        order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        results: list[np.ndarray | None] = [None] * len(rows)
        group: list[int] = []
        for position, index in enumerate(order):
            group.append(index)
            following = order[position + 1] if position + 1 < len(order) else None
            if following is None or (len(group) + 1) * len(rows[following]) > FRAMES_PER_CALL:
                for i, losses in zip(group, self._score([rows[i] for i in group])):
                    results[i] = losses
                group = []
        return results

    def _score(self, rolls: list[np.ndarray]) -> list[np.ndarray]:
        width = max(len(roll) for roll in rolls)
        inputs = np.zeros((len(rolls), width, KEYS), dtype=np.float32)  # (B, T, 88) right-padded
        targets = np.zeros_like(inputs)
        for i, roll in enumerate(rolls):
            inputs[i, : len(roll)] = model_inputs(roll)
            targets[i, : len(roll)] = roll
        (logits,), _ = self.step(inputs, self.initial_state(len(rolls)))
        losses = frame_nll(conditional_logits(logits, self.coupling, targets), targets)  # (B, T)
        return [losses[i, : len(roll)] for i, roll in enumerate(rolls)]

    def continuation(self, primer: np.ndarray, steps: int, rng: np.random.Generator,
                     temperature: float = 1.0) -> np.ndarray:
        """(P, 88) primer (P may be 0) -> (steps, 88) frames sampled one at a time after it, the state carried.
        One piece alone; the service's scheduler runs many pieces' steps in one call, with the same draws."""
        # the last logits are those of the frame after the primer
        (logits,), state = self.step(after_start(primer)[None], self.initial_state(1))
        frames = []
        for _ in range(steps):
            frame, _ = draw_frames(logits[:, -1], self.coupling, rng.random((1, KEYS)), temperature)  # (1, 88)
            frames.append(frame[0])
            (logits,), state = self.step(frame[None], state)
        return np.array(frames, dtype=np.float32).reshape(steps, KEYS)

    def piece(self, frames: list[list[int]], finish_reason: str = "length") -> dict:
        """Generated frames -> the answer of /music/generate (and its stream's last event, and the pipeline):
        {"model", "frames", "midi" (base64 of a standard MIDI file), "finish_reason"}."""
        return {"model": self.name, "frames": frames, "midi": base64.b64encode(midi_file(frames)).decode(),
                "finish_reason": finish_reason}

    def scores(self, rolls: list[np.ndarray], losses: list[np.ndarray]) -> dict:
        """(T_i, 88) rolls and their (T_i,) frame NLLs -> the answer of /music/score: {"model", "nll", "frames"}."""
        return {"model": self.name, "nll": [round(float(nll.mean()), 6) for nll in losses],
                "frames": [len(roll) for roll in rolls]}
