"""The trivial baselines every music card reports beside its model, fitted on train and measured on the
same split: negative log-likelihood per frame in nats (the sum over the 88 keys of the Bernoulli NLL,
averaged over every frame of the split, a piece's first frame predicted without context).

- marginal: each key independently on with its frequency over the train frames;
- sticky: each key repeats or changes its last state with the probabilities train shows for that key
  (a smoothed "repeat the last frame"); a piece's first frame is predicted by the marginal.

Written with numpy: two counts per key, nothing a library would add.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np

from training.music.data import DATASETS, load_pieces


def bernoulli_nll(probabilities: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """(T, 88) probabilities that each key sounds, (T, 88) 0/1 frames -> (T,) NLL of each frame in nats."""
    p = np.clip(probabilities, 1e-7, 1 - 1e-7)
    return -(frames * np.log(p) + (1 - frames) * np.log1p(-p)).sum(axis=1)


@dataclass(frozen=True)
class Baselines:
    marginal: np.ndarray  # (88,) P(key on) over the train frames
    on_after_on: np.ndarray  # (88,) P(key on | on in the frame before)
    on_after_off: np.ndarray  # (88,) P(key on | off in the frame before)

    @classmethod
    def fit(cls, pieces: list[np.ndarray]) -> "Baselines":
        frames = np.concatenate(pieces).astype(np.float64)  # (N, 88)
        before = np.concatenate([p[:-1] for p in pieces]).astype(np.float64)  # (N - pieces, 88)
        after = np.concatenate([p[1:] for p in pieces]).astype(np.float64)
        # add-one smoothing: a key never seen on (or never released) in train keeps a finite NLL
        marginal = (frames.sum(0) + 1) / (len(frames) + 2)
        on_after_on = ((before * after).sum(0) + 1) / (before.sum(0) + 2)
        on_after_off = (((1 - before) * after).sum(0) + 1) / ((1 - before).sum(0) + 2)
        return cls(marginal, on_after_on, on_after_off)

    def marginal_nll(self, pieces: list[np.ndarray]) -> float:
        frames = np.concatenate(pieces)
        return float(bernoulli_nll(np.broadcast_to(self.marginal, frames.shape), frames).mean())

    def sticky_nll(self, pieces: list[np.ndarray]) -> float:
        total, count = 0.0, 0
        for piece in pieces:
            previous = np.vstack([np.zeros((1, piece.shape[1])), piece[:-1]])  # (T, 88)
            probabilities = np.where(previous == 1, self.on_after_on, self.on_after_off)
            probabilities[0] = self.marginal  # no frame before the first
            total += bernoulli_nll(probabilities, piece).sum()
            count += len(piece)
        return float(total / count)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    for dataset in DATASETS:
        baselines = Baselines.fit(load_pieces(dataset, "train", args.data_dir))
        validation = load_pieces(dataset, "validation", args.data_dir)
        print(f"{dataset}: validation NLL per frame, marginal {baselines.marginal_nll(validation):.4f}, "
              f"sticky {baselines.sticky_nll(validation):.4f} nats ({sum(map(len, validation)):,} frames)")


if __name__ == "__main__":
    main()
