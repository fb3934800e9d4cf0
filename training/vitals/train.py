"""Train an ICU monitor on PhysioNet 2012 set-a: mortality risk after every hour (trained on the stay's
outcome) and the next hour's HR, MAP, SaO2, RespRate and Temp; then export it with a card measured on set-b.

    python -m training.vitals.train --model vitals-gru
    python -m training.vitals.train --model test-vitals-gru --epochs 1 --limit-stays 300

set-a is split by patient into 3,400 training and 600 validation stays; normalisation statistics come from
the training stays alone, and set-b is read only by the export's evaluation. The schedule is fixed (the
models overfit after a few epochs, and AUROC on 600 stays is too noisy to stop on).
"""
from __future__ import annotations

import dataclasses
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from training.checkpoints import save_checkpoint
from training.cli import run_training, start_run
from training.vitals.data import Stay, load_physionet
from training.vitals.export import export_vitals
from zoo import create_model
from zoo.tasks.vitals.records import (
    HOURS,
    VITALS,
    VitalsStatistics,
    carried_forward,
    features,
    parse_record_text,
    vital_targets,
)


@dataclass
class Config:
    model: str = "vitals-gru"  # a vitals name from the registry
    data_dir: str = ""  # default: $RNNZOO_DATA, else the user cache dir
    checkpoint_dir: str = "checkpoints"
    artifacts_dir: str = "zoo/artifacts"
    validation_stays: int = 600  # of set-a's 4,000, held out by patient
    epochs: int = 8  # fixed: validation AUROC levels off by epoch 6-8 with dropout 0.3 and a one-cycle schedule
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-3
    clip_norm: float = 1.0
    forecast_epochs: int = 20  # the forecast core keeps learning after the risk cores stop (it does not overfit)
    limit_stays: int = 0  # >0: use this many set-a stays (smoke runs)
    seed: int = 1337
    threads: int = 2
    export: bool = True


@dataclass
class Tensors:
    """A set of stays ready for the network."""

    features: torch.Tensor  # (N, HOURS, F)
    died: torch.Tensor  # (N,)
    change: torch.Tensor  # (N, HOURS, 5) next hour's vital minus the base, in vital stds; NaN where unknown
    base: np.ndarray  # (N, HOURS, 5) last seen vital (training mean before the first sighting)
    next_vitals: np.ndarray  # (N, HOURS, 5) next hour's observed vitals, NaN where unobserved
    carried: np.ndarray  # (N, HOURS, 5) last observation carried forward, NaN before the first


def vital_statistics(records) -> tuple[np.ndarray, np.ndarray]:
    values = np.concatenate([vital_targets(r) for r in records])  # (N*HOURS, 5)
    return np.nanmean(values, axis=0), np.nanstd(values, axis=0)


def make_tensors(records, died, statistics: VitalsStatistics, vital_mean: np.ndarray, vital_std: np.ndarray) -> Tensors:
    inputs = np.stack([features(r, statistics) for r in records])  # (N, HOURS, F)
    targets = np.stack([vital_targets(r) for r in records])  # (N, HOURS, 5)
    carried = np.stack([carried_forward(t) for t in targets])  # (N, HOURS, 5)
    base = np.where(np.isnan(carried), vital_mean, carried)
    next_vitals = np.concatenate([targets[:, 1:], np.full_like(targets[:, :1], np.nan)], axis=1)  # hour t+1 at t
    change = (next_vitals - base) / vital_std
    return Tensors(torch.from_numpy(inputs), torch.tensor(died, dtype=torch.float32),
                   torch.from_numpy(change.astype(np.float32)), base, next_vitals, carried)


def risk_loss(model: nn.Module, batch: Tensors, rows: torch.Tensor) -> torch.Tensor:
    logits = model.member_logits(batch.features[rows])  # (M, B, T)
    # Every hour's risk is trained on the stay's outcome; later hours know more, so they weigh more.
    hour_weight = torch.arange(1, HOURS + 1, dtype=torch.float32) / HOURS  # (T,)
    target = batch.died[rows].view(1, -1, 1).expand_as(logits)
    loss = (nn.functional.binary_cross_entropy_with_logits(logits, target, reduction="none") * hour_weight).mean()
    return loss * logits.shape[0]  # members learn independently: the sum of their losses, not the mean


def forecast_loss(model: nn.Module, batch: Tensors, rows: torch.Tensor) -> torch.Tensor:
    change = batch.change[rows]  # (B, T, 5)
    known = ~torch.isnan(change)
    predicted = model.vitals_change(batch.features[rows])
    # L1: the card reports mean absolute error, which the conditional median minimises
    return (predicted[known] - change[known]).abs().mean() if known.any() else predicted.sum() * 0


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    model.eval()
    risk, change, *_ = model(inputs)
    model.train()
    return risk.numpy(), change.numpy()


def train(config: Config) -> Path:
    spec = start_run(config.model, "vitals", config.seed, config.threads)

    # data: set-a only, split by patient; statistics from the training stays
    stays: list[Stay] = load_physionet("set-a", config.data_dir or None)
    random.Random(config.seed).shuffle(stays)
    if config.limit_stays:
        stays = stays[: config.limit_stays]
    validation_count = min(config.validation_stays, len(stays) // 5)
    train_stays, validation_stays = stays[validation_count:], stays[:validation_count]
    train_records = [parse_record_text(s.record_text) for s in train_stays]
    validation_records = [parse_record_text(s.record_text) for s in validation_stays]
    statistics = VitalsStatistics.fit(train_records)
    vital_mean, vital_std = vital_statistics(train_records)
    train_set = make_tensors(train_records, [s.died for s in train_stays], statistics, vital_mean, vital_std)
    validation_set = make_tensors(validation_records, [s.died for s in validation_stays], statistics, vital_mean, vital_std)
    print(f"set-a: {len(train_stays)} training stays, {len(validation_stays)} validation stays "
          f"({np.mean([s.died for s in train_stays]):.1%} died)")

    model = create_model(config.model)
    # Two optimisers on disjoint parameters: the risk cores stop after `epochs` (they overfit soon after),
    # the forecast core goes on to `forecast_epochs`; each follows its own one-cycle schedule.
    batches = math.ceil(len(train_stays) / config.batch_size)
    parts = {"risk": ([*model.risk_cores.parameters(), *model.risk_heads.parameters()], config.epochs, risk_loss),
             "forecast": ([*model.forecast_core.parameters(), *model.forecast_head.parameters()],
                          config.forecast_epochs, forecast_loss)}
    optimisers = {}
    for part, (parameters, epochs, _) in parts.items():
        optimiser = torch.optim.AdamW(parameters, lr=config.learning_rate, weight_decay=config.weight_decay)
        optimisers[part] = (optimiser, torch.optim.lr_scheduler.OneCycleLR(
            optimiser, max_lr=config.learning_rate, total_steps=epochs * batches))

    # loop: a fixed schedule; validation numbers are printed, not used to choose an epoch
    started = time.perf_counter()
    history = []
    for epoch in range(1, max(config.epochs, config.forecast_epochs) + 1):
        order = torch.randperm(len(train_stays))
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            for part, (parameters, epochs, loss_of) in parts.items():
                if epoch > epochs:
                    continue
                optimiser, schedule = optimisers[part]
                loss = loss_of(model, train_set, rows)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(parameters, config.clip_norm)
                optimiser.step()
                schedule.step()
        risk, change = predict(model, validation_set.features)
        val_auroc = float(roc_auc_score(validation_set.died.numpy(), risk[:, -1]))
        predicted = validation_set.base + change * vital_std
        known = ~np.isnan(validation_set.next_vitals) & ~np.isnan(validation_set.carried)
        hr = VITALS.index("HR")
        model_mae = np.abs(predicted - validation_set.next_vitals)[..., hr][known[..., hr]].mean()
        carried_mae = np.abs(validation_set.carried - validation_set.next_vitals)[..., hr][known[..., hr]].mean()
        history.append({"epoch": epoch, "validation_auroc": round(val_auroc, 4), "validation_hr_mae": round(float(model_mae), 3)})
        print(f"epoch {epoch}: validation AUROC at 48 h {val_auroc:.4f}, "
              f"next-hour HR MAE {model_mae:.3f} (carried forward {carried_mae:.3f})")
    seconds = time.perf_counter() - started

    checkpoint = {
        "model_name": config.model,
        "model_arguments": dict(spec.arguments),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},  # the last epoch's
        "optimizer_state": {part: optimiser.state_dict() for part, (optimiser, _) in optimisers.items()},
        "unit": "epochs",
        "iterations_run": len(history),
        "best_iteration": len(history),  # a fixed schedule: the weights are the last epoch's
        "validation_metric": "validation_auroc",  # at hour 48
        "best_validation": val_auroc,
        "train_seconds": seconds,
        "config": dataclasses.asdict(config),
        "extras": {"statistics": statistics.to_dict(), "vital_mean": vital_mean.tolist(),
                   "vital_std": vital_std.tolist(), "history": history, "train_stays": len(train_stays),
                   "validation_stays": len(validation_stays)},
    }
    path = save_checkpoint(checkpoint, config.checkpoint_dir)
    print(f"saved {path} ({seconds:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> None:
    run_training(Config, train, export_vitals, __doc__, "training.vitals.train", argv)


if __name__ == "__main__":
    main()
