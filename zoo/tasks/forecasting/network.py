"""The stock forecaster (torch): a window of daily features -> non-crossing quantiles per horizon.

Dimension legend: B batch, T days, F daily features, D hidden size, H horizons, Q quantile levels."""
from __future__ import annotations

import torch
from torch import nn

from zoo.models import RecurrentCore


class QuantileForecaster(nn.Module):
    """A window of daily features -> recurrent core -> quantiles of the cumulative log return for horizons
    1..H, in units of the window's volatility.

    The head emits the median and, on each side, positive gaps (softplus) that are summed outward, so
    the quantiles cannot cross. `gap_scale` (H,) widens or narrows every gap of a horizon; training
    leaves it at 1 and calibration on the validation split sets it (baked into the exported graph).
    """

    def __init__(self, cell: str, num_features: int, hidden_size: int, num_layers: int, dropout: float,
                 horizons: int, quantiles: tuple[float, ...]):
        super().__init__()
        if list(quantiles) != sorted(quantiles) or 0.5 not in quantiles:
            raise ValueError(f"quantiles must be ascending and include the median 0.5, got {quantiles}")
        self.horizons, self.quantiles = horizons, tuple(quantiles)
        self.median_index = self.quantiles.index(0.5)
        self.core = RecurrentCore(cell, num_features, hidden_size, num_layers, dropout)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden_size, horizons * len(quantiles)))
        self.register_buffer("gap_scale", torch.ones(horizons))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        # features (B, T, F) -> quantiles (B, H, Q), ascending along Q
        outputs, _ = self.core(features)  # (B, T, D)
        raw = self.head(outputs[:, -1]).view(-1, self.horizons, len(self.quantiles))  # (B, H, Q)
        m = self.median_index
        median = raw[:, :, m : m + 1]  # (B, H, 1)
        gaps = nn.functional.softplus(raw) * self.gap_scale.view(1, -1, 1)  # (B, H, Q) all > 0
        above = median + torch.cumsum(gaps[:, :, m + 1 :], dim=2)  # (B, H, Q-m-1)
        below = median - torch.flip(torch.cumsum(torch.flip(gaps[:, :, :m], [2]), dim=2), [2])  # (B, H, m)
        return torch.cat([below, median, above], dim=2)
