"""The sentiment network (torch): token ids -> bidirectional recurrent cores -> pooled class logits.

Dimension legend: B batch, T tokens, E embedding width, H hidden size, D pooled width, C classes."""
from __future__ import annotations

import torch
from torch import nn

from zoo.models import RecurrentCore, reverse_within_length


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
