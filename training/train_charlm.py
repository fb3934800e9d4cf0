"""Train a character-level language model on Tiny Shakespeare with truncated backpropagation through
time, then export it (step-capable ONNX with explicit state) to zoo/artifacts/<name>/ with a card.

    python -m training.train_charlm --model shakespeare-lstm
    python -m training.train_charlm --model test-shakespeare-gru --max-steps 20 --limit-chars 20000
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

from training.cli import parse_config
from training.data import load_tinyshakespeare
from training.export import save_checkpoint
from zoo import create_model, get_spec
from zoo.text import CharVocabulary


@dataclass
class Config:
    model: str = "shakespeare-lstm"  # a generation name from the registry
    data_dir: str = ""  # default: $RNNZOO_DATA, else the user cache dir
    checkpoint_dir: str = "checkpoints"
    artifacts_dir: str = "zoo/artifacts"
    streams: int = 64  # the batch: contiguous slices of the training text read side by side
    chunk: int = 128  # characters per truncated-BPTT step; the state carries on, the gradient stops
    learning_rate: float = 2e-3
    min_learning_rate: float = 1e-4  # cosine decay ends here
    warmup_steps: int = 100
    max_steps: int = 6000  # fixes the schedule, so a run is reproducible on any machine
    max_minutes: float = 85.0  # a safety stop inside the 90-minute budget on 2 cores
    weight_decay: float = 0.01
    clip_norm: float = 1.0  # exploding gradients are the classic recurrent failure; clipping bounds a step
    eval_every: int = 250  # steps between validation passes (the best state is kept)
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
def validation_loss(model: nn.Module, ids: np.ndarray, chunk: int = 1024) -> float:
    """Mean nats/char over the whole validation text read as one stream from a zero state."""
    model.eval()
    tokens = torch.from_numpy(ids).unsqueeze(0)  # (1, N)
    state = model.initial_state(1)
    total = 0.0
    for start in range(0, tokens.shape[1] - 1, chunk):
        inputs = tokens[:, start : start + chunk]
        targets = tokens[:, start + 1 : start + chunk + 1]
        logits, state = model(inputs[:, : targets.shape[1]], state)  # (1, T, V)
        total += nn.functional.cross_entropy(logits[0], targets[0], reduction="sum").item()
    model.train()
    return total / (tokens.shape[1] - 1)


def train(config: Config) -> Path:
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    torch.set_num_threads(config.threads)
    spec = get_spec(config.model)
    if spec.task != "generation":
        raise SystemExit(f"{config.model} is a {spec.task} model; this script trains generation models")

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
                val = validation_loss(model, validation_ids)
                print(f"\nstep {step}: validation {val:.4f} nats/char ({val / math.log(2):.4f} bits/char)")
                if val < best["loss"]:
                    best = {"loss": val, "step": step,
                            "state_dict": {k: v.detach().clone() for k, v in model.state_dict().items()}}
            if step >= config.max_steps or time.perf_counter() - started > 60 * config.max_minutes:
                break
    progress.close()
    seconds = time.perf_counter() - started
    if best["state_dict"] is None:  # stopped before the first evaluation
        best = {"loss": validation_loss(model, validation_ids), "step": step, "state_dict": model.state_dict()}

    checkpoint = {
        "model_name": config.model,
        "model_arguments": {**spec.arguments, "vocab_size": len(vocabulary)},
        "state_dict": best["state_dict"],
        "best_step": best["step"],
        "steps_run": step,
        "validation_loss": best["loss"],
        "train_seconds": seconds,
        "config": dataclasses.asdict(config),
        "vocabulary": vocabulary.characters,
    }
    path = save_checkpoint(checkpoint, config.checkpoint_dir)
    print(f"saved {path} (best step {best['step']}, validation {best['loss']:.4f} nats/char, {seconds:.0f} s)")
    return path


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    config = parse_config(Config, argv, __doc__)
    checkpoint_path = train(config)
    if config.export:
        from training.export_charlm import export_charlm

        export_charlm(checkpoint_path, Path(config.artifacts_dir), config.data_dir or None,
                      command="python -m training.train_charlm " + " ".join(argv))


if __name__ == "__main__":
    main()
