"""Train a quantile forecaster of daily stock returns with the pinball loss, calibrate its 80% interval on
the validation year, then export it (ONNX, card, forecast plot) to zoo/artifacts/<name>/.

    python -m training.forecasting.train --model stock-gru
    python -m training.forecasting.train --model test-stock-lstm --epochs 2

Walk-forward splits by the date of a window's last target day: train <= 2009, validation 2010,
test 2011-01 to 2013-03. Feature statistics come from the training windows only.
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from training.checkpoints import save_checkpoint
from training.cli import run_training, start_run
from training.forecasting.data import load_stocks
from training.forecasting.export import export_forecasting
from training.forecasting.windows import Windows, make_windows
from zoo import create_model
from zoo.tasks.forecasting.features import FeatureStatistics, features, raw_features

TARGET_COVERAGE = 0.80  # of the 0.1-0.9 interval


@dataclass
class Config:
    model: str = "stock-gru"  # a forecasting name from the registry
    checkpoint_dir: str = "checkpoints"
    artifacts_dir: str = "zoo/artifacts"
    epochs: int = 30  # the best validation epoch is kept
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    clip_norm: float = 1.0
    seed: int = 1337
    threads: int = 2
    export: bool = True


def fit_statistics(windows: Windows) -> FeatureStatistics:
    values, _ = raw_features(windows.log_closes)  # (N, W, F)
    flat = values.reshape(-1, values.shape[-1])
    return FeatureStatistics(tuple(float(x) for x in flat.mean(0)), tuple(float(x) for x in flat.std(0)))


def pinball_loss(quantiles: torch.Tensor, targets: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """Mean quantile loss: quantiles (B, H, Q), targets (B, H), levels (Q,)."""
    error = targets.unsqueeze(-1) - quantiles  # (B, H, Q)
    return torch.maximum(levels * error, (levels - 1) * error).mean()


@torch.no_grad()
def predict_log_returns(model: nn.Module, inputs: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    model.eval()
    out = model(inputs) * scale.view(-1, 1, 1)  # (N, H, Q) in log-return units
    model.train()
    return out


def coverage(quantiles: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per horizon, the share of targets inside [first, last quantile]: (H,)."""
    inside = (targets >= quantiles[..., 0]) & (targets <= quantiles[..., -1])  # (N, H)
    return inside.float().mean(0)


@torch.no_grad()
def calibrate(model: nn.Module, inputs: torch.Tensor, scale: torch.Tensor, targets: torch.Tensor) -> list[float]:
    """Set each horizon's gap scale so the 0.1-0.9 interval covers 80% of the validation windows.

    Coverage grows with the gap scale, so bisection on it finds the factor; it multiplies every
    quantile's distance from the median, which keeps them ordered (a split-conformal recalibration).
    """
    factors = []
    for h in range(model.horizons):
        low, high = 0.05, 20.0
        for _ in range(40):
            middle = math.sqrt(low * high)
            model.gap_scale[h] = middle
            covered = coverage(predict_log_returns(model, inputs, scale), targets)[h].item()
            low, high = (middle, high) if covered < TARGET_COVERAGE else (low, middle)
        model.gap_scale[h] = high  # the smallest factor reaching the target
        factors.append(high)
    return factors


def tensors(windows: Windows, statistics: FeatureStatistics):
    inputs, scale = features(windows.log_closes, statistics)
    return (torch.from_numpy(inputs), torch.from_numpy(scale.astype(np.float32)),
            torch.from_numpy(windows.targets.astype(np.float32)))


def train(config: Config) -> Path:
    spec = start_run(config.model, "forecasting", config.seed, config.threads)

    # data: windows of 61 closes, statistics from the training windows alone
    series = load_stocks()
    train_windows, validation_windows = make_windows(series, "train"), make_windows(series, "validation")
    statistics = fit_statistics(train_windows)
    x_train, s_train, y_train = tensors(train_windows, statistics)
    x_val, s_val, y_val = tensors(validation_windows, statistics)
    print(f"windows: train {len(train_windows):,}, validation {len(validation_windows):,}")

    model = create_model(config.model)
    levels = torch.tensor(model.quantiles)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

    # loop: the loss is in units of each window's volatility, so calm and stormy windows weigh alike
    best = {"loss": math.inf, "epoch": 0, "state_dict": None}
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        order = torch.randperm(len(train_windows))
        for start in range(0, len(order), config.batch_size):
            batch = order[start : start + config.batch_size]
            quantiles = model(x_train[batch])  # (B, H, Q)
            loss = pinball_loss(quantiles, y_train[batch] / s_train[batch].unsqueeze(1), levels)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimiser.step()
        val = pinball_loss(predict_log_returns(model, x_val, s_val), y_val, levels).item()
        print(f"epoch {epoch}: train {loss.item():.4f} (scaled), validation pinball {val:.6f} (log return)")
        if val < best["loss"]:
            best = {"loss": val, "epoch": epoch,
                    "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
    seconds = time.perf_counter() - started

    model.load_state_dict(best["state_dict"])
    before = coverage(predict_log_returns(model, x_val, s_val), y_val)
    factors = calibrate(model, x_val, s_val, y_val)
    after = coverage(predict_log_returns(model, x_val, s_val), y_val)
    print(f"validation 80% coverage per horizon {np.round(before.numpy(), 3)} -> {np.round(after.numpy(), 3)} "
          f"(gap scales {np.round(factors, 3)})")

    checkpoint = {
        "model_name": config.model,
        "model_arguments": dict(spec.arguments),
        "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()},  # calibrated
        "optimizer_state": {"model": optimiser.state_dict()},
        "unit": "epochs",
        "iterations_run": config.epochs,
        "best_iteration": best["epoch"],
        "validation_metric": "validation_pinball",  # in log-return units, before calibration
        "best_validation": best["loss"],
        "train_seconds": seconds,
        "config": dataclasses.asdict(config),
        "extras": {"feature_statistics": statistics.to_dict(), "gap_scale": factors,
                   "validation_coverage_before_calibration": before.tolist()},
    }
    path = save_checkpoint(checkpoint, config.checkpoint_dir)
    print(f"saved {path} (best epoch {best['epoch']}, validation pinball {best['loss']:.6f}, {seconds:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> None:
    run_training(Config, train, export_forecasting, __doc__, "training.forecasting.train", argv)


if __name__ == "__main__":
    main()
