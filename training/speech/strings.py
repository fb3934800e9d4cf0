"""Training and evaluation utterances made from the recordings: a single digit, or a string of 2-7 recordings
joined with silences, as a phone number or a PIN is spoken; augmented with speed perturbation (Ko et al. 2015),
gain and background noise. Seeded: the same seed gives the same utterances."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.speech.data import Recording
from zoo.tasks.speech.audio import SAMPLE_RATE, resample


@dataclass(frozen=True)
class Utterance:
    samples: np.ndarray  # (N,) float32 at SAMPLE_RATE
    digits: list[int]
    spans: list[tuple[int, int]]  # each digit's first and last sample + 1


@dataclass(frozen=True)
class Augmentation:
    speed: tuple[float, float] = (0.9, 1.1)  # a factor drawn per recording: faster is shorter and higher
    gain_db: tuple[float, float] = (-10.0, 6.0)  # per recording: the five speakers' levels differ by ~10 dB
    noise_snr_db: tuple[float, float] | None = (10.0, 60.0)  # per utterance, against the speech's mean power;
    # near 60 dB it is under the log-mel floor, as the digital silence some recordings have
    silence_s: tuple[float, float] = (0.0, 0.5)  # between recordings and at each end

    @classmethod
    def none(cls) -> "Augmentation":
        return cls(speed=(1.0, 1.0), gain_db=(0.0, 0.0), noise_snr_db=None, silence_s=(0.1, 0.3))


def utterance(recordings: list[Recording], rng: np.random.Generator, augmentation: Augmentation) -> Utterance:
    """The recordings joined in order, each perturbed, with silences between and around, then noise."""
    def silence() -> np.ndarray:
        return np.zeros(int(rng.uniform(*augmentation.silence_s) * SAMPLE_RATE), dtype=np.float32)

    parts, spans = [silence()], []
    position = len(parts[0])
    for recording in recordings:
        speed = rng.uniform(*augmentation.speed)
        # played `speed` times faster: read as if recorded at rate * speed, then brought back to the rate
        samples = resample(recording.samples, int(round(SAMPLE_RATE * speed)), SAMPLE_RATE) if speed != 1.0 \
            else recording.samples
        samples = samples * np.float32(10 ** (rng.uniform(*augmentation.gain_db) / 20))
        parts.append(samples)
        spans.append((position, position + len(samples)))
        position += len(samples)
        parts.append(silence())
        position += len(parts[-1])
    audio = np.concatenate(parts)
    if augmentation.noise_snr_db is not None:
        snr = rng.uniform(*augmentation.noise_snr_db)
        speech_power = np.mean(np.concatenate([audio[a:b] for a, b in spans]) ** 2)
        audio = audio + rng.normal(0.0, np.sqrt(speech_power / 10 ** (snr / 10)), len(audio)).astype(np.float32)
    return Utterance(np.clip(audio, -1, 1).astype(np.float32), [r.digit for r in recordings], spans)


def draw_utterances(recordings: list[Recording], count: int, seed: int, augmentation: Augmentation,
                    lengths: tuple[int, int] = (1, 7), single_share: float = 0.3) -> list[Utterance]:
    """`count` utterances: a `single_share` of single recordings, the rest strings of 2..lengths[1] recordings
    of one speaker, as one person reads out a number."""
    rng = np.random.default_rng(seed)
    by_speaker: dict[str, list[Recording]] = {}
    for recording in recordings:
        by_speaker.setdefault(recording.speaker, []).append(recording)
    speakers = sorted(by_speaker)
    drawn = []
    for _ in range(count):
        size = 1 if rng.random() < single_share else int(rng.integers(max(2, lengths[0]), lengths[1] + 1))
        voice = by_speaker[speakers[int(rng.integers(len(speakers)))]]
        drawn.append(utterance([voice[i] for i in rng.integers(0, len(voice), size)], rng, augmentation))
    return drawn
