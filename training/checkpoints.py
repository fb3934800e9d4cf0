"""Training checkpoints: one self-describing schema for every task, saved and loaded as tensors and plain values
only (torch.load with weights_only=True: a checkpoint never runs pickled code).

checkpoints/<model_name>.pt is a dict:

    schema             2 (checkpoints without it are the first layout, read by upgrading their keys)
    model_name         the registry name; zoo.create_model(model_name, **model_arguments) rebuilds the network
    model_arguments    the network's constructor arguments (the registry's, plus what training fixed: vocab_size...)
    state_dict         the weights kept: the best validation iteration's, or the last of a fixed schedule
    optimizer_state    {part: optimiser state_dict} at the end of the run ("model" when one optimiser trains all)
    unit               what the counts below count: "epochs" or "steps" (optimiser steps)
    iterations_run     epochs or steps run
    best_iteration     the epoch or step whose weights state_dict holds
    validation_metric  the validation number the run was judged by, e.g. "validation_loss"
    best_validation    its value for state_dict's weights
    train_seconds      wall time of the training loop
    config             the training script's settings, dataclasses.asdict(Config)
    extras             the task's own: what preprocessing needs at export (a vocabulary, feature statistics)
                       and what the card reports about the run (a teacher, a per-epoch history)
"""
from __future__ import annotations

from pathlib import Path

import torch

from zoo import create_model

SCHEMA = 2
FIELDS = ("model_name", "model_arguments", "state_dict", "optimizer_state", "unit", "iterations_run", "best_iteration",
          "validation_metric", "best_validation", "train_seconds", "config", "extras")
UNITS = ("epochs", "steps")


def save_checkpoint(checkpoint: dict, directory: str | Path) -> Path:
    """Write `checkpoint` (exactly FIELDS) to <directory>/<model_name>.pt; returns the path."""
    missing, unknown = sorted(set(FIELDS) - set(checkpoint)), sorted(set(checkpoint) - set(FIELDS))
    if missing or unknown:
        raise ValueError(f"a checkpoint has the fields {list(FIELDS)}; missing {missing}, unknown {unknown} "
                         "(task-specific values go in 'extras')")
    if checkpoint["unit"] not in UNITS:
        raise ValueError(f"a checkpoint's unit is one of {list(UNITS)}, got {checkpoint['unit']!r}")
    path = Path(directory) / f"{checkpoint['model_name']}.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"schema": SCHEMA, **checkpoint}, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint if checkpoint.get("schema") == SCHEMA else _upgrade(checkpoint)


# The first layout kept every value at the top level, under each training script's own names.
_FIRST_LAYOUT = {"epochs_run": ("epochs", "iterations_run"), "steps_run": ("steps", "iterations_run"),
                 "best_epoch": ("epochs", "best_iteration"), "best_step": ("steps", "best_iteration")}
_FIRST_LAYOUT_METRICS = ("val_accuracy", "validation_loss", "validation_pinball")


def _upgrade(old: dict) -> dict:
    old = dict(old)
    new = {name: old.pop(name) for name in ("model_name", "model_arguments", "state_dict", "train_seconds", "config")}
    new.update(schema=SCHEMA, optimizer_state={}, unit="epochs", validation_metric="", best_validation=float("nan"))
    for key, (unit, field) in _FIRST_LAYOUT.items():
        if key in old:
            new["unit"], new[field] = unit, old.pop(key)
    new.setdefault("iterations_run", new["config"].get("epochs", 0))
    new.setdefault("best_iteration", new["iterations_run"])
    for metric in _FIRST_LAYOUT_METRICS:
        if metric in old:
            new["validation_metric"], new["best_validation"] = metric, old.pop(metric)
    new["extras"] = old  # whatever is left was the task's own
    return new


def build_model(checkpoint: dict) -> torch.nn.Module:
    """The checkpoint's network with its weights, in eval mode."""
    model = create_model(checkpoint["model_name"], **checkpoint["model_arguments"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()
