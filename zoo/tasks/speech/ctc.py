"""Reading a CTC model's output (Graves et al. 2006): per frame, a distribution over the ten digits and a blank
("no new digit here"), each network step being STACK frames (30 ms). The digits are the best path with repeats
merged and blanks dropped; a digit's time is the span of steps whose best class was it (a CTC model emits a digit
in a short spike, usually just after the word has been heard to its end), and its confidence the mean
probability the model gave it there.
Written in numpy: a dozen lines, and the served bento needs them without torch."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.tasks.speech.audio import HOP, SAMPLE_RATE, STACK, WINDOW

BLANK = 10  # class 10 is the blank; classes 0-9 are the digits themselves
CLASSES = BLANK + 1


@dataclass(frozen=True)
class Digit:
    digit: int
    start_s: float  # the start of its first frame
    end_s: float  # the end of its last frame
    confidence: float  # mean probability of this digit over its frames


def probabilities(logits: np.ndarray) -> np.ndarray:
    """(T, 11) logits -> (T, 11) softmax, computed stably."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exponentials = np.exp(shifted)
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def greedy_digits(logits: np.ndarray, first_step: int = 0) -> list[Digit]:
    """(S, 11) logits of consecutive steps, the first being step `first_step` of its recording -> the digits on
    the best path, in order. A negative `first_step` says the logits start that many steps before the audio (a
    lead-in of silence); times are clamped to the audio's start."""
    if len(logits) == 0:
        return []
    p = probabilities(logits.astype(np.float64))
    best = p.argmax(axis=-1)  # (T,)
    boundaries = np.flatnonzero(np.diff(best)) + 1  # where the best class changes
    digits = []
    for run in np.split(np.arange(len(best)), boundaries):  # runs of one class
        label = int(best[run[0]])
        if label == BLANK:
            continue
        first, last = (first_step + int(run[0])) * STACK, (first_step + int(run[-1])) * STACK + STACK - 1  # frames
        digits.append(Digit(label, round(max(0, first * HOP) / SAMPLE_RATE, 4),
                            round(max(0, last * HOP + WINDOW) / SAMPLE_RATE, 4),
                            round(float(p[run, label].mean()), 4)))
    return digits

