"""Train a polyphonic piano-roll model (RNN, LSTM or GRU) on JSB Chorales or Nottingham, then export it
(step-capable ONNX with explicit state) to zoo/artifacts/<name>/ with a card.

    python -m training.music.train --model jsb-gru
    python -m training.music.train --model test-jsb-gru --epochs 1 --limit-pieces 8

Every cell gets the same recipe (this Config): the RNN/LSTM/GRU comparison changes the cell and nothing
else. Loss: the sum over the 88 keys of the Bernoulli NLL, averaged over frames, a piece's first frame
predicted from the initial state (the input before it is the silent start frame).
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
from torch import nn

from training.checkpoints import save_checkpoint
from training.cli import run_training, start_run
from training.music.data import load_pieces
from training.music.export import export_music
from zoo import create_model
from zoo.models import parameter_count
from zoo.tasks.music import dataset_of


@dataclass
class Config:
    model: str = "jsb-gru"  # a music name from the registry; its prefix names the data set
    data_dir: str = ""  # default: $RNNZOO_DATA, else the user cache dir
    checkpoint_dir: str = "checkpoints"
    artifacts_dir: str = "zoo/artifacts"
    epochs: int = 0  # 0: the data set's (EPOCHS)
    batch_pieces: int = 8  # pieces per optimiser step, of similar lengths (little padding)
    learning_rate: float = 3e-3  # the calibration: a small GRU sits on the marginal at 3e-3 for long
    min_learning_rate: float = 1e-4  # cosine decay ends here
    weight_decay: float = 1e-4
    clip_norm: float = 1.0  # exploding gradients are the classic recurrent failure; clipping bounds a step
    transpose: int = 0  # >0: each piece moves by a random -n..n semitones each epoch. Off: on JSB (GRU, 100
    # epochs) +-3 semitones cost 0.4 nats/frame on validation, whose pieces sit in the train pieces' keys
    independent_keys: bool = False  # the paper's setting: an independent sigmoid per key (no key coupling)
    limit_pieces: int = 0  # >0: train and validate on this many pieces (smoke runs)
    max_minutes: float = 80.0  # a safety stop inside the 90-minute budget on 2 cores
    seed: int = 1337
    threads: int = 2
    export: bool = True


# Epochs per data set, the same for every cell (the rest of the recipe is this Config and the registry's
# arguments): JSB is 14k frames, an epoch a second; Nottingham 177k, about 7 s an epoch on 2 cores.
EPOCHS = {"jsb": 80, "nottingham": 60}


def learning_rate(epoch_progress: float, config: Config) -> float:
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, epoch_progress)))
    return config.min_learning_rate + cosine * (config.learning_rate - config.min_learning_rate)


def transposed(piece: np.ndarray, semitones: int) -> np.ndarray:
    """(T, 88) piece moved by `semitones`; unchanged when a note would leave the keyboard."""
    keys = np.flatnonzero(piece.any(axis=0))
    if semitones == 0 or len(keys) == 0 or keys[0] + semitones < 0 or keys[-1] + semitones >= piece.shape[1]:
        return piece
    return np.roll(piece, semitones, axis=1)  # nothing wraps: the notes stay inside the keyboard


def batches(pieces: list[np.ndarray], config: Config, rng: random.Random):
    """Batches of (inputs (B, T, 88), targets (B, T, 88), counted (B, T) bool): pieces of similar length,
    right-padded, inputs = targets shifted one frame later behind the silent start frame."""
    order = sorted(range(len(pieces)), key=lambda i: (len(pieces[i]), rng.random()))
    groups = [order[i : i + config.batch_pieces] for i in range(0, len(order), config.batch_pieces)]
    rng.shuffle(groups)
    for group in groups:
        rolls = [transposed(pieces[i], rng.randint(-config.transpose, config.transpose)) for i in group]
        yield padded(rolls)


def padded(rolls: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(roll) for roll in rolls)
    targets = torch.zeros(len(rolls), width, rolls[0].shape[1])  # (B, T, 88)
    counted = torch.zeros(len(rolls), width, dtype=torch.bool)  # (B, T)
    for i, roll in enumerate(rolls):
        targets[i, : len(roll)] = torch.from_numpy(roll.astype(np.float32))
        counted[i, : len(roll)] = True
    inputs = torch.cat([torch.zeros_like(targets[:, :1]), targets[:, :-1]], dim=1)  # start frame first
    return inputs, targets, counted


def frame_losses(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, state) -> torch.Tensor:
    """(B, T) NLL of each frame in nats; whole pieces, backpropagated through all their frames."""
    logits, _ = model(inputs, state)  # (B, T, 88)
    return nn.functional.binary_cross_entropy_with_logits(
        model.conditional_logits(logits, targets), targets, reduction="none").sum(-1)


@torch.no_grad()
def validation_nll(model: nn.Module, pieces: list[np.ndarray], batch_pieces: int = 32) -> float:
    """Mean NLL per frame over every frame of `pieces`, each read from the initial state."""
    model.eval()
    total, frames = 0.0, 0
    order = sorted(range(len(pieces)), key=lambda i: len(pieces[i]))
    for start in range(0, len(order), batch_pieces):
        inputs, targets, counted = padded([pieces[i] for i in order[start : start + batch_pieces]])
        losses = frame_losses(model, inputs, targets, model.initial_state(len(inputs)))
        total += losses[counted].sum().item()
        frames += int(counted.sum())
    model.train()
    return total / frames


def train(config: Config) -> Path:
    spec = start_run(config.model, "music", config.seed, config.threads)
    dataset = dataset_of(config.model)
    config = dataclasses.replace(config, epochs=config.epochs or EPOCHS[dataset])
    train_pieces = load_pieces(dataset, "train", config.data_dir or None)
    validation_pieces = load_pieces(dataset, "validation", config.data_dir or None)
    if config.limit_pieces:
        train_pieces, validation_pieces = train_pieces[: config.limit_pieces], validation_pieces[: config.limit_pieces]
    print(f"{dataset}: train {len(train_pieces)} pieces ({sum(map(len, train_pieces)):,} frames), "
          f"validation {len(validation_pieces)} ({sum(map(len, validation_pieces)):,} frames)")

    arguments = {**spec.arguments, **({"joint_keys": False} if config.independent_keys else {})}
    model = create_model(config.model, **arguments)
    with torch.no_grad():  # start from the marginal baseline: each key's logit at its train frequency
        marginal = np.concatenate(train_pieces).mean(axis=0).clip(1e-4, 1 - 1e-4)  # (88,)
        model.head.bias.copy_(torch.from_numpy(np.log(marginal / (1 - marginal))))
    print(f"{config.model}: {parameter_count(model):,} parameters")
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    best = {"nll": math.inf, "epoch": 0, "state_dict": None}
    history, epoch, started = [], 0, time.perf_counter()
    steps_per_epoch = math.ceil(len(train_pieces) / config.batch_pieces)
    for epoch in range(1, config.epochs + 1):
        train_total, train_frames = 0.0, 0
        for step, (inputs, targets, counted) in enumerate(batches(train_pieces, config, rng)):
            for group in optimiser.param_groups:
                group["lr"] = learning_rate((epoch - 1 + step / steps_per_epoch) / config.epochs, config)
            losses = frame_losses(model, inputs, targets, model.initial_state(len(inputs)))
            loss = losses[counted].mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimiser.step()
            train_total += losses[counted].sum().item()
            train_frames += int(counted.sum())
        validation = validation_nll(model, validation_pieces)
        history.append({"epoch": epoch, "train_nll": round(train_total / train_frames, 4),
                        "validation_nll": round(validation, 4)})
        print(f"epoch {epoch}: train {train_total / train_frames:.4f}, validation {validation:.4f} nats/frame "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
        if validation < best["nll"]:
            best = {"nll": validation, "epoch": epoch,
                    "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
        if time.perf_counter() - started > 60 * config.max_minutes:
            break
    seconds = time.perf_counter() - started

    checkpoint = {
        "model_name": config.model,
        "model_arguments": arguments,
        "state_dict": best["state_dict"],
        "optimizer_state": {"model": optimiser.state_dict()},
        "unit": "epochs",
        "iterations_run": epoch,
        "best_iteration": best["epoch"],
        "validation_metric": "validation_nll",  # nats per frame
        "best_validation": best["nll"],
        "train_seconds": seconds,
        "config": dataclasses.asdict(config),
        "extras": {"dataset": dataset, "history": history},
    }
    path = save_checkpoint(checkpoint, config.checkpoint_dir)
    print(f"saved {path} (best epoch {best['epoch']}, validation {best['nll']:.4f} nats/frame, {seconds:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> None:
    run_training(Config, train, export_music, __doc__, "training.music.train", argv)


if __name__ == "__main__":
    main()
