"""Synthetic speakers for training: the ten digit words spoken by espeak-ng (a formant synthesiser, GPL-3.0,
`apt install espeak-ng`) in many accents, voice variants, pitches and rates.

Why: four real speakers are too few for a network to learn what a digit sounds like apart from who says it;
hundreds of synthetic voices, different in pitch, formants and timing, show it what varies between speakers.
The synthetic voices are only ever trained on; every reported number is on a real speaker the model never heard.
Seeded: the same seed gives the same voices, and espeak-ng is deterministic.
"""
from __future__ import annotations

import functools
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from training.data import DataError
from training.speech.data import Recording
from zoo.tasks.speech.audio import SAMPLE_RATE, read_wav, resample

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
           "en-us-nyc")
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5", "klatt", "klatt2",
            "klatt3", "klatt4", "klatt6", "adam", "alex", "andy", "annie", "aunty", "boris", "david", "ed", "edward",
            "gene", "grandma", "grandpa", "iven", "john", "linda", "max", "michel", "norbert", "paul", "quincy",
            "rob", "robert", "steph", "travis", "victor", "zac")
QUIET = 10 ** (-40 / 20)  # trim what is 40 dB below the word's peak at each end: espeak-ng pads with silence


def available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, voice: str, pitch: int, rate: int) -> np.ndarray:
    """(N,) float32 at SAMPLE_RATE: `text` spoken by espeak-ng, ends trimmed."""
    if not available():
        raise DataError("espeak-ng is not installed (apt install espeak-ng); train with --synthetic-voices 0 "
                        "--monitor-voices 0 to use the recordings only")
    wav = subprocess.run(["espeak-ng", "--stdout", "-v", voice, "-p", str(pitch), "-s", str(rate), text],
                         check=True, capture_output=True).stdout
    samples, source_rate = read_wav(wav)
    samples = resample(samples, source_rate, SAMPLE_RATE)
    loud = np.flatnonzero(np.abs(samples) > QUIET * np.abs(samples).max())
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples


@functools.lru_cache(maxsize=2)  # leave-one-speaker-out trains five times in one process on the same voices
def synthetic_speakers(count: int, seed: int = 0, threads: int = 2) -> list[Recording]:
    """10 x `count` recordings: every digit word once per synthetic speaker. A speaker is an accent, a voice
    variant, a pitch (0-99, espeak-ng's scale, 50 its default) and a rate (words per minute, 175 its default),
    drawn at random; its name, e.g. "espeak:en-gb-scotland+f3:p62:s150", says which. Cached: callers must not
    change the list."""
    rng = np.random.default_rng(seed)
    speakers = [(f"{ACCENTS[rng.integers(len(ACCENTS))]}+{VARIANTS[rng.integers(len(VARIANTS))]}",
                 int(rng.integers(15, 90)), int(rng.integers(110, 230))) for _ in range(count)]
    jobs = [(s, d) for s in speakers for d in range(10)]
    with ThreadPoolExecutor(threads) as pool:  # each call is a subprocess: threads overlap their start-up
        clips = list(pool.map(lambda job: speak(WORDS[job[1]], *job[0]), jobs))
    return [Recording(digit, f"espeak:{voice}:p{pitch}:s{rate}", 0, samples)
            for ((voice, pitch, rate), digit), samples in zip(jobs, clips)]
