"""Decoding-time ideas for unseen voices, measured on leave-one-speaker-out models (never on george): test-time
vocal tract warping, and combining models. Neither needs retraining, so both are tried on models already trained.

    python -m training.speech.decoding checkpoints/loso-vtlp/nicolas/digits-gru checkpoints/loso/nicolas/digits-bigru

Every model directory must hold out the same speaker (its card says which). Prints one markdown row per way of
decoding: isolated-digit accuracy on that speaker's 500 recordings and the digit error rate on the card's
seeded strings of them.
- warp w: each recording's spectrum stretched by w before the model hears it (VTLP's map, train.warp_vocal_tract);
- warps averaged: the per-step probabilities averaged over several warps, then the best path;
- best-scoring warp: per recording, the warp whose best path the model is surest of (the classical VTLN search,
  with the network's confidence in place of the HMM's likelihood);
- probabilities averaged: the models' per-step probabilities averaged (a CTC model's spikes need not fall on
  the same steps in two models, so this can hurt);
- hypotheses rescored: each model's best path is a candidate; the one with the highest summed CTC log-likelihood
  over all models is heard (a sequence-level combination, which no spike timing can spoil).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from training.speech.data import split
from training.speech.evaluation import edit_distance
from training.speech.export import evaluation_strings, recordings, test_speaker
from training.speech.train import warp_vocal_tract
from zoo.cards import ModelCard
from zoo.tasks.speech.ctc import BLANK, probabilities
from zoo.tasks.speech.predictor import SpeechPredictor

WARPS = (0.88, 0.91, 0.94, 0.97, 1.0, 1.03, 1.06, 1.09, 1.12)


def step_probabilities(predictor: SpeechPredictor, steps: list[np.ndarray], warp: float = 1.0) -> list[np.ndarray]:
    """(S_i, 120) steps of whole recordings -> (S_i, 11) per-step probabilities each, the spectra warped first."""
    rows = [warp_vocal_tract(s, warp) if warp != 1.0 else s for s in steps]
    return [probabilities(logits.astype(np.float64)) for start in range(0, len(rows), 64)
            for logits in predictor.run(rows[start : start + 64])]


def best_path(step_probs: np.ndarray) -> tuple[int, ...]:
    return tuple(d.digit for d in SpeechPredictor.decode(np.log(step_probs + 1e-12)))


def log_likelihood(step_probs: np.ndarray, digits: tuple[int, ...]) -> float:
    """log P(digits | audio) summed over every CTC alignment (torch's CTC forward pass; training may use torch)."""
    log_probs = torch.from_numpy(np.log(step_probs + 1e-12))[:, None]  # (S, 1, 11)
    if not digits:
        return float(log_probs[:, 0, BLANK].sum())
    return -float(torch.nn.functional.ctc_loss(log_probs, torch.tensor([digits]), torch.tensor([len(log_probs)]),
                                               torch.tensor([len(digits)]), blank=BLANK, reduction="sum"))


def rescore(per_model: list[np.ndarray]) -> tuple[int, ...]:
    """The candidate (each model's best path) with the highest CTC log-likelihood summed over the models."""
    candidates = {best_path(p) for p in per_model}
    return max(sorted(candidates), key=lambda digits: sum(log_likelihood(p, digits) for p in per_model))


def compare(model_dirs: list[Path], data_dir: str | None) -> list[tuple[str, float, float]]:
    predictors = [SpeechPredictor(d, ["CPUExecutionProvider"]) for d in model_dirs]
    speakers = {test_speaker(p.card) for p in predictors}
    if len(speakers) != 1:
        raise SystemExit(f"the models hold out different speakers: {sorted(speakers)}")
    (speaker,) = speakers
    if speaker == "george":
        raise SystemExit("george is the shipped models' test speaker: decide on the other speakers")
    test = split(recordings(data_dir), speaker)["test"]
    strings = evaluation_strings(test)
    said = [(r.samples, (r.digit,)) for r in test], [(u.samples, tuple(u.digits)) for u in strings]
    first = predictors[0]
    steps = [[first.features(samples) for samples, _ in part] for part in said]  # the same for every model

    def score(decode) -> tuple[float, float]:
        """decode(part, i) -> digits heard for item i of part 0 (recordings) or 1 (strings)."""
        accuracy = float(np.mean([decode(0, i) == digits for i, (_, digits) in enumerate(said[0])]))
        errors = sum(edit_distance(list(digits), list(decode(1, i))) for i, (_, digits) in enumerate(said[1]))
        return accuracy, errors / sum(len(digits) for _, digits in said[1])

    rows = []
    warped = [{w: step_probabilities(first, part, w) for w in WARPS} for part in steps]  # the first model's
    for w in WARPS:
        rows.append((f"`{first.name}`, warp {w}", *score(lambda part, i, w=w: best_path(warped[part][w][i]))))
    for chosen in ((0.97, 1.0, 1.03), (0.94, 1.0, 1.06), WARPS):
        rows.append((f"`{first.name}`, probabilities averaged over warps {', '.join(map(str, chosen))}",
                     *score(lambda part, i, c=chosen: best_path(np.mean([warped[part][w][i] for w in c], axis=0)))))
    rows.append((f"`{first.name}`, best-scoring warp per recording", *score(
        lambda part, i: best_path(max((warped[part][w][i] for w in WARPS), key=lambda p: np.log(p.max(-1)).mean())))))
    if len(predictors) > 1:
        each = [[step_probabilities(p, part) for part in steps] for p in predictors]  # [model][part][item]
        for p, probs in zip(predictors[1:], each[1:]):
            rows.append((f"`{p.name}`", *score(lambda part, i, probs=probs: best_path(probs[part][i]))))
        names = " + ".join(f"`{p.name}`" for p in predictors)
        rows.append((f"{names}, probabilities averaged",
                     *score(lambda part, i: best_path(np.mean([m[part][i] for m in each], axis=0)))))
        rows.append((f"{names}, hypotheses rescored", *score(lambda part, i: rescore([m[part][i] for m in each]))))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path, help="exported model directories, one held-out speaker")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    speaker = test_speaker(ModelCard.load(args.models[0]))  # the card only: compare() opens the sessions
    print(f"| decoding ({speaker} held out) | isolated accuracy | string digit error rate |\n|---|---|---|")
    for name, accuracy, error_rate in compare(args.models, args.data_dir):
        print(f"| {name} | {accuracy:.3f} | {error_rate:.3f} |")


if __name__ == "__main__":
    main()
