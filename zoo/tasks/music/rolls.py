"""Piano rolls in numpy: requests' pitch lists <-> (frames, 88) 0/1 rolls, the inputs a model reads, the NLL
of a frame, drawing a frame key by key, and standard MIDI files (mido writes them: the file format is its job)."""
from __future__ import annotations

import io

import mido
import numpy as np

from zoo.task import InputError

KEYS = 88
LOWEST_PITCH = 21  # MIDI note of key 0 (A0)
HIGHEST_PITCH = LOWEST_PITCH + KEYS - 1  # 108 (C8)
TICKS_PER_FRAME = 240  # MIDI ticks per frame at 480 ticks per quarter note: a frame is an eighth note
MIDI_TEMPO_BPM = 120  # so one frame lasts 0.25 s
VELOCITY = 80


def roll_from_pitches(frames: list[list[int]], where: str = "piece") -> np.ndarray:
    """[[MIDI pitches sounding], ...] -> (T, 88) float32 0/1 roll; InputError naming the first bad pitch."""
    if not isinstance(frames, (list, tuple)):
        raise InputError(f"{where} must be a list of frames (each a list of MIDI pitches), got {type(frames).__name__}")
    roll = np.zeros((len(frames), KEYS), dtype=np.float32)
    for t, pitches in enumerate(frames):
        if not isinstance(pitches, (list, tuple)):
            raise InputError(f"{where} frame {t} is {pitches!r}; a frame is a list of MIDI pitches")
        for pitch in pitches:
            if isinstance(pitch, bool) or not isinstance(pitch, (int, np.integer)):
                raise InputError(f"{where} frame {t}: pitch {pitch!r} is not an integer MIDI pitch")
            if not LOWEST_PITCH <= pitch <= HIGHEST_PITCH:
                raise InputError(f"{where} frame {t}: pitch {pitch} is off the 88-key piano roll; "
                                 f"allowed: MIDI pitches {LOWEST_PITCH}-{HIGHEST_PITCH}")
            roll[t, pitch - LOWEST_PITCH] = 1.0
    return roll


def pitches_from_roll(roll: np.ndarray) -> list[list[int]]:
    """(T, 88) 0/1 roll -> [[MIDI pitches sounding], ...], each frame's pitches ascending."""
    return [[int(k) + LOWEST_PITCH for k in np.flatnonzero(frame)] for frame in roll]


def after_start(roll: np.ndarray) -> np.ndarray:
    """(T, 88) frames -> (T + 1, 88) float32: the silent start frame a piece is read after, then the frames."""
    return np.vstack([np.zeros((1, KEYS), dtype=np.float32), roll]).astype(np.float32)


def model_inputs(roll: np.ndarray) -> np.ndarray:
    """(T, 88) frames -> (T, 88) what the model reads before each: the silent start frame, then frames 1..T-1."""
    return after_start(roll)[:-1]


def conditional_logits(logits: np.ndarray, coupling: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(..., 88) logits given the state, (88, 88) key coupling, (..., 88) the frames they predict -> each key's
    logit given the state and the keys below it in its frame (the model's joint output; zeros: independent)."""
    return logits + roll @ coupling.T


def frame_nll(logits: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """(..., T, 88) conditional logits, (..., T, 88) 0/1 frames -> (..., T) NLL of each frame in nats: the sum
    over keys of the Bernoulli NLL, log(1 + e^l) - x * l, computed without overflow."""
    return (np.logaddexp(0.0, logits) - roll * logits).sum(axis=-1)


def key_probabilities(logits: np.ndarray, temperature: float | np.ndarray = 1.0) -> np.ndarray:
    """(..., 88) logits -> P(each key sounds); temperature < 1 sharpens towards the likelier choice per key."""
    return 0.5 * (1.0 + np.tanh(0.5 * logits / temperature))  # the sigmoid, without overflow


def draw_frames(logits: np.ndarray, coupling: np.ndarray, uniform: np.ndarray,
                temperature: float | np.ndarray = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(B, 88) logits given the state, (88, 88) coupling, (B, 88) uniform draws in [0, 1) -> (B, 88) float32 0/1
    frames and (B, 88) the probability each key had when drawn. Keys are drawn lowest first, each given those
    below (the model's factorisation); uniform 0.5 gives the likeliest frame key by key (greedy).
    temperature: a number or (B, 1)."""
    if not coupling.any():  # independent keys: all at once
        probabilities = key_probabilities(logits, temperature)
        return (uniform < probabilities).astype(np.float32), probabilities
    frames = np.zeros(logits.shape, dtype=np.float32)
    probabilities = np.zeros(logits.shape)
    temperature = np.broadcast_to(np.asarray(temperature, dtype=np.float64).reshape(-1), (len(logits),))
    for key in range(logits.shape[1]):  # 88 small steps: each key needs the keys below it drawn first
        logit = logits[:, key] + frames[:, :key] @ coupling[key, :key]  # (B,)
        probabilities[:, key] = key_probabilities(logit, temperature)
        frames[:, key] = uniform[:, key] < probabilities[:, key]
    return frames, probabilities


def midi_file(frames: list[list[int]]) -> bytes:
    """A format-0 standard MIDI file of the frames at MIDI_TEMPO_BPM, one frame = TICKS_PER_FRAME ticks
    (an eighth note); a pitch held over consecutive frames is one note, as in the piano roll."""
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(MIDI_TEMPO_BPM), time=0))
    track.append(mido.Message("program_change", program=0, time=0))  # acoustic grand piano
    sounding: set[int] = set()
    wait = 0  # ticks since the last event
    for pitches in [*frames, []]:  # a silent frame after the last releases every note
        now = set(pitches)
        for pitch in sorted(sounding - now):
            track.append(mido.Message("note_off", note=pitch, velocity=0, time=wait))
            wait = 0
        for pitch in sorted(now - sounding):
            track.append(mido.Message("note_on", note=pitch, velocity=VELOCITY, time=wait))
            wait = 0
        sounding = now
        wait += TICKS_PER_FRAME
    track.append(mido.MetaMessage("end_of_track", time=0))
    midi = mido.MidiFile(type=0, ticks_per_beat=2 * TICKS_PER_FRAME)
    midi.tracks.append(track)
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()
