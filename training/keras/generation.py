"""Keras 3 -> ONNX -> zoo: a character LSTM or GRU trained with model.fit on Tiny Shakespeare (the zoo's
vocabulary and split), exported with its state in and out as the generation task's contract has it.

    python -m training.keras.generation --cell lstm --steps 3000 --out runs/keras-shakespeare-lstm
    python -m training.keras.generation --cell gru --steps 5 --hidden 16 --out /tmp/k   # a smoke run, seconds

It writes model.onnx and parity.npz (what Keras' model.predict computes) to --out and prints the
training.bring_your_own command that brings them into the zoo.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import keras  # on the torch backend: training/keras/__init__.py, which Python runs first, chooses it
import numpy as np
import torch
from torch import nn

from training.generation.data import load_tinyshakespeare
from training.keras import export
from training.onnx_export import state_names
from zoo.artifacts import ARTIFACTS_DIR
from zoo.tasks.generation.vocabulary import CharVocabulary


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = export.script_arguments(__doc__, cell="lstm")
    parser.add_argument("--steps", type=int, default=3000, help="optimiser steps, one batch of random windows each")
    parser.add_argument("--hidden", type=int, default=256, help="one layer; the zoo's shakespeare models have 2 of 512")
    parser.add_argument("--embedding", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--length", type=int, default=100, help="characters per training window (backprop length)")
    parser.add_argument("--vocab", default=str(ARTIFACTS_DIR / "shakespeare-lstm" / "vocab.json"),
                        help="the zoo's vocabulary: the served model must number characters as the zoo does")
    parser.add_argument("--data-dir", default=None, help="default: $RNNZOO_DATA")
    return parser.parse_args(argv)


class RandomWindows(keras.utils.PyDataset):
    """`steps` batches of random windows of the text: the tokens, and the next token at every position."""

    def __init__(self, ids: np.ndarray, steps: int, batch_size: int, length: int, seed: int):
        super().__init__()
        self.ids, self.steps, self.batch_size, self.length, self.seed = ids, steps, batch_size, length, seed

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        starts = np.random.default_rng((self.seed, index)).integers(0, len(self.ids) - self.length - 1, self.batch_size)
        windows = self.ids[starts[:, None] + np.arange(self.length + 1)]  # (B, T+1)
        return windows[:, :-1], windows[:, 1:]


def build(cell: str, vocab_size: int, embedding_dim: int, hidden_size: int) -> tuple[keras.Model, keras.Model]:
    """The network twice over the same layers: `trainer` reads tokens from a zero state (what fit needs);
    `stepper` takes the state and returns it, named as the contract names them (what is exported)."""
    embed = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
    layer = {"lstm": keras.layers.LSTM, "gru": keras.layers.GRU}[cell]
    recurrent = layer(hidden_size, return_sequences=True, return_state=True, name=cell)
    head = keras.layers.Dense(vocab_size, name="head")

    tokens = keras.Input((None,), dtype="int64", name="tokens")  # (B, T)
    outputs, *_ = recurrent(embed(tokens))  # (B, T, H)
    trainer = keras.Model(tokens, head(outputs), name="trainer")

    names_in, names_out = state_names(cell)
    state = [keras.Input((hidden_size,), name=name) for name in names_in]  # (B, H) each: Keras puts the batch first
    outputs, *new_state = recurrent(embed(tokens), initial_state=state)
    stepper = keras.Model([tokens, *state], {"logits": head(outputs), **dict(zip(names_out, new_state))}, name="stepper")
    return trainer, stepper


class TorchStepper(nn.Module):
    """`stepper` as torch modules holding its weights: tokens (B, T), state (B, H) each -> logits (B, T, V),
    state (B, H) each, in the order of Keras' inputs and outputs."""

    def __init__(self, stepper: keras.Model, cell: str):
        super().__init__()
        self.cell = cell
        self.embedding = export.embedding(stepper.get_layer("embedding"))
        self.recurrent = export.recurrent(stepper.get_layer(cell))
        self.head = export.dense(stepper.get_layer("head"))

    def forward(self, tokens: torch.Tensor, *state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        state = [s.unsqueeze(0) for s in state]  # (1, B, H): torch's (layers, batch, hidden)
        outputs, new_state = self.recurrent(self.embedding(tokens), tuple(state) if self.cell == "lstm" else state[0])
        new_state = new_state if self.cell == "lstm" else (new_state,)
        return (self.head(outputs), *(s.squeeze(0) for s in new_state))


def main(argv: list[str] | None = None) -> list[str]:
    """Train, export, write parity vectors; returns training.bring_your_own's arguments for the result."""
    args = arguments(argv)
    keras.utils.set_random_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # data: the zoo's characters and split (first 90% trains; bring_your_own measures on the last 10%)
    vocabulary = CharVocabulary.load(Path(args.vocab))
    train_ids = vocabulary.encode(load_tinyshakespeare("train", args.data_dir))
    batches = RandomWindows(train_ids, args.steps, args.batch_size, args.length, args.seed)

    # model and training: Keras' own fit loop, gradient norm clipped as the zoo's scripts do
    trainer, stepper = build(args.cell, len(vocabulary), args.embedding, args.hidden)
    trainer.compile(optimizer=keras.optimizers.Adam(args.learning_rate, global_clipnorm=1.0),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    started = time.perf_counter()
    history = trainer.fit(batches, epochs=1, verbose=2)
    seconds = time.perf_counter() - started
    print(f"{args.steps} steps in {seconds:.0f} s: training loss {history.history['loss'][-1]:.3f} nats/char")

    # export: the stepper rebuilt in torch, written with named inputs, outputs and dynamic axes
    names_in, names_out = state_names(args.cell)
    axes = {"tokens": {0: "batch", 1: "sequence"}, "logits": {0: "batch", 1: "sequence"},
            **{name: {0: "batch"} for name in names_in + names_out}}
    sample = (np.zeros((3, 5), np.int64), *(np.zeros((3, args.hidden), np.float32) for _ in names_in))
    export.export(TorchStepper(stepper, args.cell), sample, out / "model.onnx", ["tokens", *names_in],
                  ["logits", *names_out], axes)

    # parity vectors: Keras' own predict, at a batch size and length unlike the export sample's, random states
    rng = np.random.default_rng(args.seed)
    inputs = {"tokens": rng.integers(0, len(vocabulary), (2, 9)).astype(np.int64),
              **{name: (0.5 * rng.standard_normal((2, args.hidden))).astype(np.float32) for name in names_in}}
    export.write_parity(stepper, inputs, out / "parity.npz")

    bring = export.bring_arguments(
        out, "generation", f"keras-shakespeare-{args.cell}",
        f"Tiny Shakespeare first 90%, {args.steps} steps of {args.batch_size}x{args.length} characters",
        ["--tokenizer", args.vocab, "--license", "apache-2.0", "--license-terms", "trained on public domain text",
         "--batch-major-state", ",".join(names_in + names_out)])
    export.print_bring_command(bring)
    return bring


if __name__ == "__main__":
    main()
