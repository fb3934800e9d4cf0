"""Train a character-level language model on Tiny Shakespeare with truncated backpropagation through
time, then export it (step-capable ONNX with explicit state) to zoo/artifacts/<name>/ with a card.

    python -m training.generation.train --model shakespeare-lstm
    python -m training.generation.train --model test-shakespeare-gru --max-steps 20 --limit-chars 20000
"""
from __future__ import annotations

import dataclasses
import math
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from training.checkpoints import save_checkpoint
from training.cli import run_training, start_run
from training.generation.data import load_tinyshakespeare
from training.generation.export import export_generation
from zoo import create_model
from zoo.tasks.generation.vocabulary import CharVocabulary


@dataclass
class Config:
    model: str = "shakespeare-lstm"  # a generation name from the registry
    data_dir: str = ""  # default: $RNNZOO_DATA, else the user cache dir
    checkpoint_dir: str = "checkpoints"
    artifacts_dir: str = "zoo/artifacts"
    streams: int = 32  # the batch: contiguous slices of the training text read side by side; 32 is as
    # fast per character as 64 on 2 cores and gives twice the optimiser steps
    chunk: int = 128  # characters per truncated-BPTT step; the state carries on, the gradient stops
    learning_rate: float = 2e-3
    min_learning_rate: float = 1e-4  # cosine decay ends here
    warmup_steps: int = 100
    max_steps: int = 3600  # about 15 epochs; fixes the schedule, so a run is reproducible on any machine
    max_minutes: float = 85.0  # a safety stop inside the 90-minute budget on 2 cores
    weight_decay: float = 0.01
    clip_norm: float = 1.0  # exploding gradients are the classic recurrent failure; clipping bounds a step
    eval_every: int = 400  # steps between validation passes (the best state is kept)
    eval_streams: int = 16  # validation read as 16 warmed-up segments in one batch; export measures exactly
    limit_chars: int = 0  # >0: train on this many characters only (smoke runs)
    seed: int = 1337
    threads: int = 2
    export: bool = True


def learning_rate(step: int, config: Config) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    progress = min(1.0, (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps))
    return config.min_learning_rate + 0.5 * (1 + math.cos(math.pi * progress)) * (config.learning_rate - config.min_learning_rate)


def streams_of(ids: np.ndarray, streams: int) -> torch.Tensor:
    """(streams, length) contiguous slices of the text, read in parallel so state can carry over."""
    length = len(ids) // streams
    return torch.from_numpy(ids[: streams * length].reshape(streams, length))


@torch.no_grad()
def validation_loss(model: nn.Module, ids: np.ndarray, streams: int = 1, burn_in: int = 256,
                    chunk: int = 1024) -> float:
    """Mean nats/char over the whole validation text.

    streams=1 reads it as one stream from a zero state: the exact number the card reports. streams>1
    cuts it into that many segments read side by side (one batch), each starting `burn_in` characters
    early with its loss not counted there, so the state has warmed up: nearly the same number, many
    times faster for model selection on a CPU.
    """
    model.eval()
    targets_total = len(ids) - 1
    segment = -(-targets_total // streams)  # ceil
    rows, masks = [], []
    for start in range(0, targets_total, segment):
        end = min(start + segment, targets_total)
        context = max(0, start - burn_in)
        rows.append(ids[context : end + 1])  # inputs ids[context:end], targets ids[context+1:end+1]
        masks.append(np.arange(context, end) >= start)  # count each target once
    width = max(len(row) for row in rows)
    tokens = torch.zeros(len(rows), width, dtype=torch.int64)  # (S, W) right-padded
    counted = torch.zeros(len(rows), width - 1, dtype=torch.bool)  # (S, W-1)
    for i, (row, mask) in enumerate(zip(rows, masks)):
        tokens[i, : len(row)] = torch.from_numpy(row)
        counted[i, : len(mask)] = torch.from_numpy(mask)
    state = model.initial_state(len(rows))
    total = 0.0
    for start in range(0, width - 1, chunk):
        inputs = tokens[:, start : min(start + chunk, width - 1)]  # (S, T)
        targets = tokens[:, start + 1 : start + 1 + inputs.shape[1]]  # (S, T)
        logits, state = model(inputs, state)  # (S, T, V)
        losses = nn.functional.cross_entropy(logits.transpose(1, 2), targets, reduction="none")  # (S, T)
        total += losses[counted[:, start : start + inputs.shape[1]]].sum().item()
    model.train()
    return total / targets_total


def train(config: Config) -> Path:
    spec = start_run(config.model, "generation", config.seed, config.threads)

    # data: first 90% of characters train, last 10% validate
    train_text = load_tinyshakespeare("train", config.data_dir or None)
    validation_text = load_tinyshakespeare("validation", config.data_dir or None)
    vocabulary = CharVocabulary.from_text(train_text + validation_text)  # 65 characters, all in train
    if config.limit_chars:
        train_text, validation_text = train_text[: config.limit_chars], validation_text[: config.limit_chars // 10]
    data = streams_of(vocabulary.encode(train_text), config.streams)  # (S, L)
    validation_ids = vocabulary.encode(validation_text)
    print(f"train {len(train_text):,} characters as {config.streams} streams, validation {len(validation_text):,}")

    model = create_model(config.model, vocab_size=len(vocabulary))
    print(f"{config.model}: {sum(p.numel() for p in model.parameters()):,} parameters")
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)

    # loop: sweep the streams chunk by chunk, carrying the (detached) state across chunks
    best = {"loss": math.inf, "step": 0, "state_dict": None}
    step, sweep, started = 0, 0, time.perf_counter()
    progress = tqdm(total=config.max_steps, file=sys.stdout, mininterval=10)
    while step < config.max_steps and time.perf_counter() - started < 60 * config.max_minutes:
        sweep += 1
        state = model.initial_state(config.streams)
        offset = random.randrange(config.chunk)  # chunk borders move each sweep
        for start in range(offset, data.shape[1] - config.chunk - 1, config.chunk):
            inputs = data[:, start : start + config.chunk]  # (S, T)
            targets = data[:, start + 1 : start + config.chunk + 1]  # (S, T)
            state = tuple(s.detach() for s in state)  # truncate backpropagation here
            logits, state = model(inputs, state)  # (S, T, V)
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
            for group in optimiser.param_groups:
                group["lr"] = learning_rate(step, config)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimiser.step()
            step += 1
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.3f}", sweep=sweep, refresh=False)
            if step % config.eval_every == 0 or step == config.max_steps:
                val = validation_loss(model, validation_ids, config.eval_streams)
                print(f"\nstep {step}: validation {val:.4f} nats/char ({val / math.log(2):.4f} bits/char)")
                if val < best["loss"]:
                    best = {"loss": val, "step": step,
                            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
            if step >= config.max_steps or time.perf_counter() - started > 60 * config.max_minutes:
                break
    progress.close()
    seconds = time.perf_counter() - started
    if best["state_dict"] is None:  # stopped before the first evaluation
        best = {"loss": validation_loss(model, validation_ids, config.eval_streams), "step": step, "state_dict": model.state_dict()}

    checkpoint = {
        "model_name": config.model,
        "model_arguments": {**spec.arguments, "vocab_size": len(vocabulary)},
        "state_dict": best["state_dict"],
        "optimizer_state": {"model": optimiser.state_dict()},
        "unit": "steps",
        "iterations_run": step,
        "best_iteration": best["step"],
        "validation_metric": "validation_loss",  # nats per character
        "best_validation": best["loss"],
        "train_seconds": seconds,
        "config": dataclasses.asdict(config),
        "extras": {"vocabulary": vocabulary.characters},
    }
    path = save_checkpoint(checkpoint, config.checkpoint_dir)
    print(f"saved {path} (best step {best['step']}, validation {best['loss']:.4f} nats/char, {seconds:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> None:
    run_training(Config, train, export_generation, __doc__, "training.generation.train", argv)


if __name__ == "__main__":
    main()
