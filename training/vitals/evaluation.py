"""The vitals models' set-b metrics, measured with onnxruntime, beside the baselines on the same stays: the
SAPS-I score from the outcomes file, a logistic regression on per-variable summary features (first/last/min/
max/mean and a missing flag, plus the descriptors) trained on set-a with its penalty chosen by cross-validation,
and for the next-hour vitals the last observation carried forward. Metrics are scikit-learn's; the interval of
the AUROC difference from the logistic regression is a paired bootstrap (scipy) over the same stays."""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.stats import bootstrap
from sklearn.linear_model import LogisticRegressionCV
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from zoo.cards import Metric
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import (
    VITALS,
    Record,
    VitalsStatistics,
    carried_forward,
    descriptor_features,
    features,
    hourly,
    transform,
    vital_targets,
)

BOOTSTRAP = 1000
LOGISTIC = "logistic regression on summary features, trained on set-a (penalty by 5-fold cross-validation)"


def summary_features(record: Record, statistics: VitalsStatistics) -> np.ndarray:
    """first/last/min/max/mean of each standardised variable over the 48 h (0 if never seen) + a missing
    flag, then the descriptors: the logistic regression baseline's input."""
    values = (transform(hourly(record)) - np.array(statistics.mean)) / np.array(statistics.std)  # (HOURS, V)
    out = []
    for column in values.T:
        seen = column[~np.isnan(column)]
        out += [seen[0], seen[-1], seen.min(), seen.max(), seen.mean(), 0.0] if len(seen) else [0.0] * 5 + [1.0]
    return np.concatenate([out, descriptor_features(record.descriptors, statistics)])


def logistic_regression(inputs: np.ndarray, labels: np.ndarray, seed: int = 0) -> LogisticRegressionCV:
    """L2 logistic regression whose penalty is chosen among 10 by 5-fold cross-validated log loss on set-a."""
    with warnings.catch_warnings():  # scikit-learn 1.8+ announces new defaults; these arguments mean the same in all
        warnings.simplefilter("ignore", FutureWarning)
        return LogisticRegressionCV(Cs=10, cv=5, scoring="neg_log_loss", max_iter=5000,
                                    random_state=seed).fit(inputs, labels)


def auroc_intervals(risk: np.ndarray, baseline: np.ndarray, died: np.ndarray,
                    seed: int = 0) -> tuple[tuple[float, float], tuple[float, float]]:
    """95% percentile intervals, resampling the same stays for both (paired): of the model's AUROC, and of the
    model's AUROC minus the baseline's. The difference's interval says whether the two differ; two overlapping
    intervals of their own would not."""
    def own(r, y):
        return roc_auc_score(y, r)

    def difference(r, b, y):
        return roc_auc_score(y, r) - roc_auc_score(y, b)

    options = dict(paired=True, vectorized=False, n_resamples=BOOTSTRAP, method="percentile", random_state=seed)
    alone = bootstrap((risk, died), own, **options).confidence_interval
    apart = bootstrap((risk, baseline, died), difference, **options).confidence_interval
    return (float(alone.low), float(alone.high)), (float(apart.low), float(apart.high))


@dataclass
class Evaluation:
    metrics: list[Metric]
    risk: np.ndarray  # (N,) the model's risk at hour 48
    logistic: np.ndarray  # (N,) the logistic regression's risk
    died: np.ndarray  # (N,)
    auroc_interval: tuple[float, float]  # the model's AUROC, 95%
    difference_interval: tuple[float, float]  # the model's AUROC minus the logistic regression's, 95%, paired


def evaluate(predictor: VitalsPredictor, train_records: list[Record], train_died: np.ndarray,
             test_records: list[Record], test_died: np.ndarray, test_saps: np.ndarray) -> Evaluation:
    """The card's set-b metrics, measured with onnxruntime, beside the baselines on the same stays."""
    statistics = predictor.statistics
    risk, change = predictor.assess(np.stack([features(r, statistics) for r in test_records]))  # (N, T), (N, T, 5)
    risk48 = risk[:, -1]

    summaries_train = np.stack([summary_features(r, statistics) for r in train_records])
    summaries_test = np.stack([summary_features(r, statistics) for r in test_records])
    logistic = logistic_regression(summaries_train, train_died).predict_proba(summaries_test)[:, 1]
    saps_known = test_saps >= 0

    split = "PhysioNet 2012 set-b (the challenge's held-out set), risk at hour 48"
    n = len(test_died)
    interval, difference = auroc_intervals(risk48, logistic, test_died)
    metrics = [
        Metric("mortality_auroc", split, round(roc_auc_score(test_died, risk48), 5), LOGISTIC,
               round(roc_auc_score(test_died, logistic), 5), n),
        Metric("mortality_auroc_vs_saps1", f"{split}, stays with a SAPS-I score",
               round(roc_auc_score(test_died[saps_known], risk48[saps_known]), 5), "SAPS-I score",
               round(roc_auc_score(test_died[saps_known], test_saps[saps_known]), 5), int(saps_known.sum())),
        Metric("mortality_auprc", split, round(average_precision_score(test_died, risk48), 5), LOGISTIC,
               round(average_precision_score(test_died, logistic), 5), n),
        Metric("mortality_brier", split, round(brier_score_loss(test_died, risk48), 5), LOGISTIC,
               round(brier_score_loss(test_died, logistic), 5), n),
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
    return Evaluation(metrics, risk48, logistic, test_died, interval, difference)
