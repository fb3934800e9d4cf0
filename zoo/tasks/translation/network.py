"""The translator (torch): a bidirectional recurrent encoder, and a recurrent decoder that attends to it (Luong,
Pham and Manning 2015, global attention with the "general" score), exported as two graphs.

Dimension legend: B batch, S source subwords, T target subwords, E embedding width, K encoder width per direction
(the memory is 2K wide), H decoder hidden size, V target vocabulary, L decoder layers (1).

Why this shape, for two CPU cores and about 90 minutes a model:
- no input feeding (Luong's previous attentional vector fed back as input): without it the decoder's recurrence
  runs over the whole target sentence in one native call during training, instead of a Python loop a step at a
  time, and an epoch costs a fraction as much;
- the target embedding is also the output layer (Press and Wolf 2017): fewer weights to learn from 29,000
  pairs, and a smaller file;
- the decoder starts from a projection of the encoder's mean output, so it knows the sentence before attending.
"""
from __future__ import annotations

import torch
from torch import nn

from zoo.models import RecurrentCore, reverse_within_length
from zoo.tasks.translation.vocabulary import PAD_ID


class Translator(nn.Module):
    def __init__(self, cell: str, source_vocab: int, target_vocab: int, embedding_dim: int, encoder_size: int,
                 hidden_size: int, dropout: float, num_layers: int = 1):
        super().__init__()
        if num_layers != 1:
            raise ValueError("the translator's encoder and decoder have one layer each")
        self.cell, self.num_layers, self.hidden_size = cell, num_layers, hidden_size
        self.source_embedding = nn.Embedding(source_vocab, embedding_dim, padding_idx=PAD_ID)
        self.forward_encoder = RecurrentCore(cell, embedding_dim, encoder_size, 1, 0.0)
        self.backward_encoder = RecurrentCore(cell, embedding_dim, encoder_size, 1, 0.0)
        self.bridge = nn.Linear(2 * encoder_size, hidden_size)
        self.attention_keys = nn.Linear(2 * encoder_size, hidden_size, bias=False)  # "general": h . (W m)
        self.target_embedding = nn.Embedding(target_vocab, embedding_dim, padding_idx=PAD_ID)
        self.decoder = RecurrentCore(cell, embedding_dim, hidden_size, 1, 0.0)
        self.combine = nn.Linear(2 * encoder_size + hidden_size, hidden_size)
        self.readout = nn.Linear(hidden_size, embedding_dim)
        self.output_bias = nn.Parameter(torch.zeros(target_vocab))
        self.dropout = nn.Dropout(dropout)

    def encode(self, source: torch.Tensor, lengths: torch.Tensor):
        # source (B, S) int64 right-padded, lengths (B,) >= 1 -> memory (B, S, 2K), keys (B, S, H), state ((1, B, H),..)
        x = self.dropout(self.source_embedding(source).float())  # (B, S, E); .float() undoes an fp16 table
        forward, _ = self.forward_encoder(x)  # (B, S, K)
        backward, _ = self.backward_encoder(reverse_within_length(x, lengths))  # reads each row from its end
        memory = torch.cat([forward, reverse_within_length(backward, lengths)], dim=-1)  # (B, S, 2K)
        mask = source_mask(lengths, source.shape[1]).unsqueeze(-1)  # (B, S, 1)
        mean = (memory * mask).sum(dim=1) / lengths.unsqueeze(1).to(memory.dtype)  # (B, 2K)
        h0 = torch.tanh(self.bridge(mean)).unsqueeze(0)  # (1, B, H)
        state = (h0, torch.zeros_like(h0)) if self.cell == "lstm" else (h0,)
        return memory, self.attention_keys(memory), state

    def decode(self, tokens: torch.Tensor, memory: torch.Tensor, keys: torch.Tensor, lengths: torch.Tensor,
               state: tuple[torch.Tensor, ...]):
        # tokens (B, T) int64, memory (B, S, 2K), keys (B, S, H), lengths (B,) of the source, state ((1, B, H),..)
        # -> logits (B, T, V), attention (B, T, S), new state
        x = self.dropout(self.target_embedding(tokens).float())  # (B, T, E)
        outputs, new_state = self.decoder(x, state)  # (B, T, H)
        scores = outputs @ keys.transpose(1, 2)  # (B, T, S)
        scores = scores.masked_fill(~source_mask(lengths, memory.shape[1]).unsqueeze(1), float("-inf"))
        attention = scores.softmax(dim=-1)  # (B, T, S)
        context = attention @ memory  # (B, T, 2K)
        attended = torch.tanh(self.combine(torch.cat([context, outputs], dim=-1)))  # (B, T, H)
        logits = self.readout(self.dropout(attended)) @ self.target_embedding.weight.float().t() + self.output_bias
        return logits, attention, new_state  # (B, T, V)

    def forward(self, source: torch.Tensor, lengths: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        # teacher forcing: source (B, S), lengths (B,), tokens (B, T) BOS + target[:-1] -> logits (B, T, V)
        memory, keys, state = self.encode(source, lengths)
        logits, _, _ = self.decode(tokens, memory, keys, lengths, state)
        return logits


def source_mask(lengths: torch.Tensor, width: int) -> torch.Tensor:
    """(B,) lengths -> (B, width) True at each row's real subwords."""
    return torch.arange(width, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


class EncoderGraph(nn.Module):
    """The exported encoder: source, lengths -> memory, keys, h0 (, c0): run once per sentence."""

    def __init__(self, model: Translator):
        super().__init__()
        self.model = model

    def forward(self, source: torch.Tensor, lengths: torch.Tensor):
        memory, keys, state = self.model.encode(source, lengths)
        return (memory, keys, *state)


class DecoderGraph(nn.Module):
    """The exported decoder step: tokens, memory, keys, source_lengths, rows, h0 (, c0) -> logits, attention, hN
    (, cN). A row is one hypothesis of beam search: `rows` (B,) says which sentence's memory each attends to, so
    the memory (N sentences) is sent once per call, not copied per hypothesis. Serving feeds one token per row
    (T = 1) and carries the state; T > 1 scores a whole target."""

    def __init__(self, model: Translator):
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, memory: torch.Tensor, keys: torch.Tensor, source_lengths: torch.Tensor,
                rows: torch.Tensor, *state: torch.Tensor):
        # tokens (B, T), memory (N, S, 2K), keys (N, S, H), source_lengths (N,), rows (B,) in [0, N), state (1, B, H)
        logits, attention, new_state = self.model.decode(tokens, memory[rows], keys[rows], source_lengths[rows],
                                                         tuple(state))
        return (logits, attention, *new_state)
