"""Keras 3 -> ONNX -> zoo: a quantile forecaster of daily stock returns (LSTM or GRU) trained with model.fit on
the zoo's windows, features and walk-forward splits, exported with the forecasting task's contract:
features float32 (batch, 60, 3) -> quantiles float32 (batch, 5, 3).

    python -m training.keras.forecasting --cell gru --epochs 30 --out runs/keras-stock-gru
    python -m training.keras.forecasting --cell lstm --epochs 1 --hidden 4 --out /tmp/k   # a smoke run, seconds

It writes model.onnx and parity.npz (what Keras' model.predict computes) to --out and prints the
training.bring_your_own command that brings them into the zoo. Unlike the zoo's own forecasters
(training/forecasting/train.py) its 80% interval is not calibrated on the validation year; bring_your_own
measures its coverage on the test split like theirs.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras  # on the torch backend: training/keras/__init__.py, which Python runs first, chooses it
import numpy as np
import torch
from torch import nn

from training.forecasting.data import load_stocks
from training.forecasting.train import fit_statistics
from training.forecasting.windows import Windows, make_windows
from training.keras import export
from zoo.tasks.forecasting.features import FEATURES, HORIZONS, QUANTILES, WINDOW, FeatureStatistics, features


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = export.script_arguments(__doc__, cell="gru")
    parser.add_argument("--epochs", type=int, default=30, help="the best validation epoch is kept")
    parser.add_argument("--hidden", type=int, default=32, help="the zoo's stock models use 32: 8,500 windows is little")
    parser.add_argument("--batch-size", type=int, default=128)
    return parser.parse_args(argv)


def arrays(windows: Windows, statistics: FeatureStatistics) -> tuple[np.ndarray, np.ndarray]:
    """Features (N, W, F) and targets (N, H, 1) in units of each window's volatility, as the zoo trains."""
    inputs, scale = features(windows.log_closes, statistics)
    return inputs, (windows.targets / scale[:, None])[..., None].astype(np.float32)


def pinball_loss(targets, quantiles):
    """Per window, the mean quantile loss over horizons and levels: targets (B, H, 1), quantiles (B, H, Q)."""
    levels = keras.ops.convert_to_tensor(QUANTILES, dtype=quantiles.dtype)
    error = targets - quantiles  # (B, H, Q)
    return keras.ops.mean(keras.ops.maximum(levels * error, (levels - 1) * error), axis=(1, 2))


def build(cell: str, hidden_size: int) -> tuple[keras.Model, keras.Model]:
    """`trainer`: a window of features -> quantiles (B, H, Q); `exported`: the same, its output named "quantiles".
    Sorting the Q values keeps the quantiles from crossing (rearrangement, Chernozhukov et al. 2010)."""
    window = keras.Input((WINDOW, len(FEATURES)), name="features")  # (B, W, F): the contract fixes W
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    last = layer(hidden_size, name=cell)(window)  # (B, D) the last step's output
    raw = keras.layers.Dense(HORIZONS * len(QUANTILES), name="head")(keras.layers.Dropout(0.1)(last))
    quantiles = keras.ops.sort(keras.layers.Reshape((HORIZONS, len(QUANTILES)))(raw), axis=-1)  # (B, H, Q)
    return keras.Model(window, quantiles, name="trainer"), keras.Model(window, {"quantiles": quantiles}, name="exported")


class TorchForecaster(nn.Module):
    """`exported` as torch modules holding its weights: features (B, W, F) -> quantiles (B, H, Q). Dropout is the
    identity at inference, so it has no counterpart here."""

    def __init__(self, exported: keras.Model, cell: str):
        super().__init__()
        self.recurrent = export.recurrent(exported.get_layer(cell))
        self.head = export.dense(exported.get_layer("head"))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.recurrent(features)  # (B, W, D)
        raw = self.head(outputs[:, -1]).view(-1, HORIZONS, len(QUANTILES))  # (B, H, Q)
        # keras.ops.sort's values; topk with a constant k keeps the exported graph's last size known (3)
        return torch.topk(raw, len(QUANTILES), dim=-1, largest=False, sorted=True).values


def main(argv: list[str] | None = None) -> list[str]:
    """Train, export, write parity vectors; returns training.bring_your_own's arguments for the result."""
    args = arguments(argv)
    keras.utils.set_random_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # data: the zoo's windows and splits; statistics from the training windows, the numbers the zoo's cards carry
    series = load_stocks()
    train_windows, validation_windows = make_windows(series, "train"), make_windows(series, "validation")
    statistics = fit_statistics(train_windows)
    x_train, y_train = arrays(train_windows, statistics)
    x_val, y_val = arrays(validation_windows, statistics)

    # model and training: Keras' own fit, keeping the epoch with the best validation loss
    trainer, exported = build(args.cell, args.hidden)
    trainer.compile(optimizer=keras.optimizers.AdamW(args.learning_rate, weight_decay=1e-4, global_clipnorm=1.0),
                    loss=pinball_loss)
    best = keras.callbacks.EarlyStopping(patience=args.epochs, restore_best_weights=True)
    started = time.perf_counter()
    history = trainer.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                          validation_data=(x_val, y_val), callbacks=[best], verbose=2)
    seconds = time.perf_counter() - started
    print(f"{args.epochs} epochs in {seconds:.0f} s: best validation pinball {min(history.history['val_loss']):.4f} "
          "(in units of the window's volatility)")

    # export: the model rebuilt in torch; the window stays fixed (the contract's 60), the batch dynamic
    export.export(TorchForecaster(exported, args.cell), (x_val[:3],), out / "model.onnx", ["features"], ["quantiles"],
                  {"features": {0: "batch"}, "quantiles": {0: "batch"}})

    # parity vectors: Keras' own predict on 13 real test windows (a batch size unlike the export sample's)
    inputs, _ = arrays(make_windows(series, "test"), statistics)
    export.write_parity(exported, {"features": inputs[:13]}, out / "parity.npz")

    bring = export.bring_arguments(
        out, "forecasting", f"keras-stock-{args.cell}",
        f"windows whose last target day is in 2000-2009 ({len(train_windows):,}), {args.epochs} epochs; best of "
        "them on 2010", ["--license", "apache-2.0", "--license-terms", "trained on public domain prices"])
    export.print_bring_command(bring)
    return bring


if __name__ == "__main__":
    main()
