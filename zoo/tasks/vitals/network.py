"""The ICU monitor (torch): hourly features -> mortality risk after every hour and next-hour vitals.

Dimension legend: B batch, T hours, F hourly features, H hidden size, L layers, M risk members."""
from __future__ import annotations

import torch
from torch import nn

from zoo.models import RecurrentCore


class VitalsMonitor(nn.Module):
    """Hourly ICU features -> mortality risk after every hour, and the change of five vitals next hour.

    The two heads sit on separate recurrent cores: a core tuned to forecast heart rate loses mortality
    AUROC when it must serve both. `members` > 1 makes the risk an ensemble: independently initialised
    cores, each trained on its own loss, whose logits are averaged (one graph, one file).
    """

    def __init__(self, cell: str, num_features: int, hidden_size: int, num_layers: int, dropout: float,
                 num_vitals: int, members: int = 1, forecast_hidden_size: int = 64):
        super().__init__()
        self.risk_cores = nn.ModuleList(
            [RecurrentCore(cell, num_features, hidden_size, num_layers, dropout) for _ in range(members)])
        self.risk_heads = nn.ModuleList([nn.Linear(hidden_size, 1) for _ in range(members)])
        self.forecast_core = RecurrentCore(cell, num_features, forecast_hidden_size, num_layers, dropout)
        self.forecast_head = nn.Linear(forecast_hidden_size, num_vitals)
        self.dropout = nn.Dropout(dropout)

    def member_logits(self, features: torch.Tensor) -> torch.Tensor:
        # features (B, T, F) -> mortality logits of each member after each hour (M, B, T)
        return torch.stack([head(self.dropout(core(features)[0])).squeeze(-1)
                            for core, head in zip(self.risk_cores, self.risk_heads)])

    def vitals_change(self, features: torch.Tensor) -> torch.Tensor:
        # features (B, T, F) -> next hour's vitals minus the last seen ones, in each vital's std (B, T, 5)
        return self.forecast_head(self.dropout(self.forecast_core(features)[0]))

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        """Zeros: (risk_h, forecast_h) for rnn/gru, (risk_h, risk_c, forecast_h, forecast_c) for lstm; the
        risk members' (L, B, H) states are stacked along the first axis: (M * L, B, H)."""
        members = [core.initial_state(batch_size) for core in self.risk_cores]
        risk = tuple(torch.cat(parts) for parts in zip(*members))
        return risk + self.forecast_core.initial_state(batch_size)

    def forward(self, features: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        # features (B, T, F), state as initial_state (zeros if absent) -> mortality risk (B, T) in [0, 1],
        # vitals change (B, T, 5), then the state after the last hour: a monitor can go on from there
        # an hour at a time (sessions) and get what a run over the whole stay would give.
        if not state:
            state = self.initial_state(features.shape[0])
        parts = len(state) // 2  # 1 tensor per core state for rnn/gru, 2 (h, c) for lstm
        risk_state, forecast_state = state[:parts], state[parts:]
        layers = self.forecast_core.num_layers
        logits, member_states = [], []
        for m, (core, head) in enumerate(zip(self.risk_cores, self.risk_heads)):
            outputs, member_state = core(features, tuple(s[m * layers:(m + 1) * layers] for s in risk_state))
            logits.append(head(self.dropout(outputs)).squeeze(-1))  # (B, T)
            member_states.append(member_state)
        outputs, new_forecast_state = self.forecast_core(features, forecast_state)
        new_risk_state = tuple(torch.cat(parts) for parts in zip(*member_states))
        return (torch.sigmoid(torch.stack(logits).mean(0)), self.forecast_head(self.dropout(outputs)),
                *new_risk_state, *new_forecast_state)
