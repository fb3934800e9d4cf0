"""The vitals models' set-b metrics, measured with onnxruntime, beside the baselines on the same stays: the
SAPS-I score from the outcomes file, a logistic regression on per-variable summary features (first/last/min/
max/mean and a missing flag, plus the descriptors) trained on set-a, and for the next-hour vitals the last
observation carried forward."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from zoo.cards import Metric
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import (carried_forward, descriptor_features, features, hourly, transform, vital_targets,
                                      Record, VITALS, VitalsStatistics)

BOOTSTRAP = 1000


def auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the chance a random positive outranks a random negative (ties half)."""
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(average, counts)
    positives = labels == 1
    n_pos, n_neg = positives.sum(), (~positives).sum()
    return float((ranks[positives].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def summary_features(record: Record, statistics: VitalsStatistics) -> np.ndarray:
    """first/last/min/max/mean of each standardised variable over the 48 h (0 if never seen) + a missing
    flag, then the descriptors: the logistic regression baseline's input."""
    values = (transform(hourly(record)) - np.array(statistics.mean)) / np.array(statistics.std)  # (HOURS, V)
    out = []
    for column in values.T:
        seen = column[~np.isnan(column)]
        out += [seen[0], seen[-1], seen.min(), seen.max(), seen.mean(), 0.0] if len(seen) else [0.0] * 5 + [1.0]
    return np.concatenate([out, descriptor_features(record.descriptors, statistics)])


def fit_logistic_regression(inputs: np.ndarray, labels: np.ndarray, l2: float = 1e-2) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by L-BFGS: (weights, bias)."""
    x, y = torch.tensor(inputs, dtype=torch.float64), torch.tensor(labels, dtype=torch.float64)
    weights = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights, bias], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ weights + bias, y) + l2 * (weights ** 2).sum()
        loss.backward()
        return loss

    optimiser.step(closure)
    return weights.detach().numpy(), float(bias.item())


def average_precision(scores: np.ndarray, labels: np.ndarray) -> float:
    order = np.argsort(-scores, kind="mergesort")
    hits = labels[order] == 1
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].sum() / hits.sum())


def bootstrap_auroc(scores: np.ndarray, labels: np.ndarray, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP):
        rows = rng.integers(0, len(labels), len(labels))
        values.append(auroc(scores[rows], labels[rows]))
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


@dataclass
class Evaluation:
    metrics: list[Metric]
    risk: np.ndarray  # (N,) the model's risk at hour 48
    logistic: np.ndarray  # (N,) the logistic regression's risk
    died: np.ndarray  # (N,)
    auroc_interval: tuple[float, float]
    logistic_auroc_interval: tuple[float, float]


def evaluate(predictor: VitalsPredictor, train_records: list[Record], train_died: np.ndarray,
             test_records: list[Record], test_died: np.ndarray, test_saps: np.ndarray) -> Evaluation:
    """The card's set-b metrics, measured with onnxruntime, beside the baselines on the same stays."""
    statistics = predictor.statistics
    risk, change = predictor.assess(np.stack([features(r, statistics) for r in test_records]))  # (N, T), (N, T, 5)
    risk48 = risk[:, -1]

    summaries_train = np.stack([summary_features(r, statistics) for r in train_records])
    summaries_test = np.stack([summary_features(r, statistics) for r in test_records])
    weights, bias = fit_logistic_regression(summaries_train, train_died)
    logistic = 1 / (1 + np.exp(-(summaries_test @ weights + bias)))
    saps_known = test_saps >= 0

    split = "PhysioNet 2012 set-b (the challenge's held-out set), risk at hour 48"
    n = len(test_died)
    interval = bootstrap_auroc(risk48, test_died)
    metrics = [
        Metric("mortality_auroc", split, round(auroc(risk48, test_died), 5),
               "logistic regression on summary features, trained on set-a", round(auroc(logistic, test_died), 5), n),
        Metric("mortality_auroc_vs_saps1", f"{split}, stays with a SAPS-I score", round(auroc(risk48[saps_known], test_died[saps_known]), 5),
               "SAPS-I score", round(auroc(test_saps[saps_known], test_died[saps_known]), 5), int(saps_known.sum())),
        Metric("mortality_auprc", split, round(average_precision(risk48, test_died), 5),
               "logistic regression on summary features, trained on set-a", round(average_precision(logistic, test_died), 5), n),
        Metric("mortality_brier", split, round(float(np.mean((risk48 - test_died) ** 2)), 5),
               "logistic regression on summary features, trained on set-a", round(float(np.mean((logistic - test_died) ** 2)), 5), n),
    ]
    targets = [vital_targets(r) for r in test_records]
    carried = np.stack([carried_forward(t) for t in targets])  # (N, HOURS, 5)
    following = np.stack([np.concatenate([t[1:], np.full_like(t[:1], np.nan)]) for t in targets])
    base = np.where(np.isnan(carried), predictor.vital_mean, carried)
    predicted = base + change * predictor.vital_std
    for i, vital in enumerate(VITALS):
        known = ~np.isnan(following[..., i]) & ~np.isnan(carried[..., i])
        metrics.append(Metric(
            f"next_hour_mae_{vital}", "set-b, every hour whose next hour has the vital and an earlier value exists",
            round(float(np.abs(predicted[..., i] - following[..., i])[known].mean()), 4),
            "last observation carried forward", round(float(np.abs(carried[..., i] - following[..., i])[known].mean()), 4),
            int(known.sum())))
    return Evaluation(metrics, risk48, logistic, test_died, interval, bootstrap_auroc(logistic, test_died))
