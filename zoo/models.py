"""Torch model definitions. Only training, export and tests import this module (serving is ONNX)."""
from __future__ import annotations

import torch
from torch import nn

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}

# Dimension legend used in shape comments:
#   B batch, T time steps (tokens or days), E embedding width, H hidden size (QuantileForecaster:
#   horizons, with D its hidden size), L layers, V vocabulary, F daily features, Q quantile levels.


class RecurrentCore(nn.Module):
    """One unidirectional recurrent stack for all three cells, batch-first, with explicit state.

    State is a tuple: (h,) for rnn/gru and (h, c) for lstm, each (L, B, H). Passing state=None
    starts a fresh sequence (zeros), which the ONNX exporter turns into an absent initial_h.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float):
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; cells are {sorted(CELLS)}")
        self.cell, self.hidden_size, self.num_layers = cell, hidden_size, num_layers
        self.rnn = CELLS[cell](input_size, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        weight = next(self.parameters())
        zeros = weight.new_zeros(self.num_layers, batch_size, self.hidden_size)
        return (zeros, zeros.clone()) if self.cell == "lstm" else (zeros,)

    def forward(self, inputs: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None):
        # inputs (B, T, E) -> outputs (B, T, H), state tuple of (L, B, H)
        if state is None:
            outputs, new_state = self.rnn(inputs)
        elif self.cell == "lstm":
            outputs, new_state = self.rnn(inputs, state)
        else:
            outputs, new_state = self.rnn(inputs, state[0])
        return outputs, (new_state if isinstance(new_state, tuple) else (new_state,))


def reverse_within_length(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each row's first `lengths` steps and leave its right padding in place.

    The backward direction reads the reversed sequence, so it sees the real tokens first and the
    padding last: its outputs at real positions do not depend on how much padding a batch has.
    Applying it twice is the identity.
    """
    B, T = x.shape[0], x.shape[1]
    steps = torch.arange(T, device=x.device).unsqueeze(0).expand(B, T)  # (B, T)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    index = torch.where(steps <= last, last - steps, steps)  # (B, T)
    return torch.gather(x, 1, index.unsqueeze(-1).expand_as(x))


class SentimentClassifier(nn.Module):
    """Token ids -> recurrent core(s) -> masked mean and max pooling -> class logits.

    Right-padded batches plus `lengths` keep the native ONNX recurrent op (packed sequences do
    not export) and give every text the same logits whatever else shares its batch.
    With `pretrained_dim` set (training only), the embedding table has that width, is frozen, and a
    learned projection maps it to `embedding_dim`; `fold_embedding` bakes the projection into one
    (V, embedding_dim) table for export.
    """

    def __init__(self, cell: str, vocab_size: int, embedding_dim: int, hidden_size: int,
                 num_layers: int, bidirectional: bool, dropout: float, num_classes: int,
                 pretrained_dim: int | None = None, padding_id: int = 0):
        super().__init__()
        self.padding_id = padding_id
        table_dim = pretrained_dim or embedding_dim
        self.embedding = nn.Embedding(vocab_size, table_dim, padding_idx=padding_id)
        self.projection = nn.Linear(pretrained_dim, embedding_dim) if pretrained_dim else None
        self.embedding_dropout = nn.Dropout(dropout)
        self.forward_core = RecurrentCore(cell, embedding_dim, hidden_size, num_layers, dropout)
        self.backward_core = (RecurrentCore(cell, embedding_dim, hidden_size, num_layers, dropout)
                              if bidirectional else None)
        directions = 2 if bidirectional else 1
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * directions * hidden_size, num_classes))

    def forward(self, token_ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        # token_ids (B, T) int64 right-padded, lengths (B,) int64 >= 1 -> logits (B, C)
        T = token_ids.shape[1]
        x = self.embedding(token_ids).float()  # (B, T, E); .float() undoes an fp16 export table
        if self.projection is not None:
            x = self.projection(x)
        x = self.embedding_dropout(x)
        mask = (torch.arange(T, device=token_ids.device).unsqueeze(0) < lengths.unsqueeze(1))  # (B, T)
        outputs, _ = self.forward_core(x)  # (B, T, H)
        if self.backward_core is not None:
            backward, _ = self.backward_core(reverse_within_length(x, lengths))
            outputs = torch.cat([outputs, reverse_within_length(backward, lengths)], dim=-1)  # (B, T, 2H)
        mask = mask.unsqueeze(-1)  # (B, T, 1)
        mean = (outputs * mask).sum(dim=1) / lengths.unsqueeze(1).to(outputs.dtype)  # (B, D)
        largest = outputs.masked_fill(~mask, float("-inf")).max(dim=1).values  # (B, D)
        return self.head(torch.cat([mean, largest], dim=-1))  # (B, C)

    @torch.no_grad()
    def fold_embedding(self, dtype: torch.dtype = torch.float16) -> None:
        """Replace frozen table + projection by one (V, E) table stored in `dtype`."""
        table = self.embedding.weight
        if self.projection is not None:
            table = self.projection(table)
            self.projection = None
        folded = nn.Embedding(table.shape[0], table.shape[1], padding_idx=self.padding_id)
        folded.weight = nn.Parameter(table.to(dtype), requires_grad=False)
        self.embedding = folded


class CharLanguageModel(nn.Module):
    """Characters -> embedding -> recurrent core -> next-character logits, with the state in and out,
    so generation feeds one character plus the carried state: O(1) work per new character."""

    def __init__(self, cell: str, vocab_size: int, embedding_dim: int, hidden_size: int,
                 num_layers: int, dropout: float):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.core = RecurrentCore(cell, embedding_dim, hidden_size, num_layers, dropout)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def initial_state(self, batch_size: int) -> tuple[torch.Tensor, ...]:
        return self.core.initial_state(batch_size)

    def forward(self, tokens: torch.Tensor, state: tuple[torch.Tensor, ...]):
        # tokens (B, T) int64, state tuple of (L, B, H) -> logits (B, T, V), new state
        outputs, new_state = self.core(self.embedding(tokens), state)  # (B, T, H)
        return self.head(self.dropout(outputs)), new_state


class StepGraph(nn.Module):
    """The exported signature: tokens, h0 (, c0) -> logits, hN (, cN), as plain named tensors."""

    def __init__(self, model: CharLanguageModel):
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, *state: torch.Tensor):
        logits, new_state = self.model(tokens, tuple(state))
        return (logits, *new_state)


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


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
