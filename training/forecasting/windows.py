"""Forecast windows: every forecast a split asks for, cut from the price series by walk-forward splits."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.forecasting.data import STOCK_SPLITS, PriceSeries
from zoo.tasks.forecasting.features import HORIZONS, WINDOW


@dataclass
class Windows:
    """Every forecast a split asks for: the closes a model reads and what happened next."""

    log_closes: np.ndarray  # (N, W+1) log closes, oldest first
    targets: np.ndarray  # (N, H) cumulative log return 1..H days after the window's last close
    tickers: list[str]
    anchor_index: np.ndarray  # (N,) index of the window's last close in its ticker's series

    def __len__(self) -> int:
        return len(self.targets)


def make_windows(series: dict[str, PriceSeries], split: str, window: int = WINDOW,
                 horizons: int = HORIZONS) -> Windows:
    """Windows whose last close and last target day both fall inside `split` (no target crosses a split)."""
    start, end = (np.datetime64(day) for day in STOCK_SPLITS[split])
    log_closes, targets, tickers, anchors = [], [], [], []
    for ticker, prices in series.items():
        logs = np.log(prices.closes)
        for t in range(window, len(logs) - horizons):
            if prices.dates[t] >= start and prices.dates[t + horizons] <= end:
                log_closes.append(logs[t - window : t + 1])
                targets.append(logs[t + 1 : t + 1 + horizons] - logs[t])
                tickers.append(ticker)
                anchors.append(t)
    return Windows(np.array(log_closes), np.array(targets), tickers, np.array(anchors))
