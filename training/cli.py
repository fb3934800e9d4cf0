"""Command lines: config dataclasses (every field becomes a --flag with its default), and the exporters'; and
what every training run does first (`start_run`)."""
from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from zoo import get_spec
from zoo.task import ModelSpec

ConfigT = TypeVar("ConfigT")


def parse_config(config_class: type[ConfigT], argv: list[str], description: str | None) -> ConfigT:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    for spec in dataclasses.fields(config_class):
        flag = "--" + spec.name.replace("_", "-")
        if isinstance(spec.default, bool):
            parser.add_argument(flag, type=lambda s: s.lower() in ("1", "true", "yes"), default=spec.default)
        else:
            parser.add_argument(flag, type=type(spec.default), default=spec.default)
    return config_class(**vars(parser.parse_args(argv)))


def run_export(export, description: str | None, reads_data: bool = True, argv: list[str] | None = None) -> None:
    """The command line of a task's exporter: `python -m training.<task>.export CHECKPOINT [options]`, where
    `export(checkpoint, artifacts_dir, data_dir, command)` is the task's export function."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--artifacts-dir", type=Path, default=Path("zoo/artifacts"))
    if reads_data:  # a task whose evaluation reads the data directory (stock prices come from a package)
        parser.add_argument("--data-dir", default=None)
    parser.add_argument("--command", default="", help="the training command to record on the card")
    args = parser.parse_args(argv)
    export(args.checkpoint, args.artifacts_dir, getattr(args, "data_dir", None), args.command)


def run_training(config_class: type[ConfigT], train, export, description: str | None, module: str,
                 argv: list[str] | None = None) -> Path:
    """The command line of a task's training script: parse its Config, train, and (unless --export false)
    export the checkpoint with the task's `export(checkpoint, artifacts_dir, data_dir, command)`, recording
    the command on the card. `module` is the script's module, as `python -m` runs it."""
    argv = sys.argv[1:] if argv is None else argv
    config = parse_config(config_class, argv, description)
    checkpoint_path = train(config)
    if config.export:
        export(checkpoint_path, Path(config.artifacts_dir), getattr(config, "data_dir", "") or None,
               f"python -m {module} " + " ".join(argv))
    return checkpoint_path


def start_run(model: str, task: str, seed: int, threads: int) -> ModelSpec:
    """Seed Python's, numpy's and torch's generators, give torch its threads, and return `model`'s registry
    entry; a model of another task stops the script with a message saying so."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    spec = get_spec(model)
    if spec.task != task:
        raise SystemExit(f"{model} is a {spec.task} model; this script trains {task} models")
    return spec
