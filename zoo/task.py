"""What a task is: the one object that holds a task's facts (`Task`), the protocol every model's predictor
follows (`Predictor`), and the registry entry of one model (`ModelSpec`). Names no task: each task's folder
under zoo/tasks/ builds its own `Task`, and zoo/tasks/__init__.py lists them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from zoo.cards import ModelCard


class InputError(ValueError):
    """Input a model cannot take (a request's text, prices, observations); the message says what was wrong
    and what is allowed. Each task's endpoints answer their task's InputError with a 400."""


class TextError(InputError):
    """A text the model cannot take: too long, empty, or with characters outside the vocabulary."""


def text_list(texts, what: str = "texts") -> list[str]:
    """One text or a list of texts -> a non-empty list; InputError otherwise (the pipelines' plain inputs)."""
    texts = [texts] if isinstance(texts, str) else texts
    if not isinstance(texts, (list, tuple)) or not texts:
        raise InputError(f"{what}: send a string or a non-empty list of strings, got {texts!r}"[:300])
    return list(texts)


def check_option(name: str, value, low=None, high=None, *, above: bool = False, optional: bool = False,
                 integer: bool = False):
    """`value` if it is a number (an int with `integer`) in [low, high] ((low, high] with `above`), else
    InputError saying what is allowed: the pipelines' check of what the HTTP request schemas check."""
    if value is None and optional:
        return None
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value != value:
        raise InputError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if (low is not None and (value <= low if above else value < low)) or (high is not None and value > high):
        bounds = (f"{'(' if above or low is None else '['}{'-inf' if low is None else f'{low:g}'}, "
                  f"{'inf)' if high is None else f'{high:g}]'}")
        raise InputError(f"{name} is {value!r}; allowed: {bounds}{' or None' if optional else ''}")
    return value


@dataclass(frozen=True)
class ModelSpec:
    """One registered model: a name, its task, and the arguments of its task's torch network."""
    name: str
    task: str
    architecture: str  # "module:Class" of the torch network, imported only by zoo.registry.create_model
    arguments: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    shipped: bool = True  # False for tiny test-* variants, and for recipes trained and not kept (no artifact)
    quantized_from: str | None = None  # int8 variants: the fp32 model whose file training.quantize rounded


def int8_variant(source: ModelSpec) -> ModelSpec:
    """The registry entry of `source`'s int8 twin (same network; training.quantize writes its file)."""
    return ModelSpec(name=f"{source.name}-int8", task=source.task, architecture=source.architecture,
                     arguments=dict(source.arguments), description=f"{source.description}, int8 weights",
                     quantized_from=source.name)


@runtime_checkable
class Predictor(Protocol):
    """How the service, the sessions, the V2 endpoints and the evaluations run any model.

    Built from an artifact folder (`cls(directory, providers, with_session, threads)`): the card is read,
    every file's sha256 checked, the task's contract and the parity vectors verified before a byte reaches
    onnxruntime. `run` takes a batch of rows (one per request item) and returns one result per row, in order.
    Recurrent-state tasks' predictors are also `StatefulPredictor`s.
    """
    card: ModelCard
    providers: list[str]

    @property
    def name(self) -> str: ...

    def run(self, rows: list) -> list: ...


class StatefulPredictor(Predictor, Protocol):
    """A predictor whose sequences can continue from an explicit recurrent state (sessions, streaming)."""

    def initial_state(self, batch_size: int) -> list[np.ndarray]:
        """Zeros: [(layers, batch, hidden), ...] as the card's state inputs."""

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """inputs (B, T, ...) from state [(L, B, H), ...] -> ([outputs (B, T, ...), ...], the state after them)."""


class Pipeline:
    """One model with plain-Python inputs and outputs, in process: calling it returns the body its task's HTTP
    endpoint answers (the same keys, as dicts and lists), so code moves between the two unchanged. Each task's
    pipeline (zoo/tasks/<task>/pipeline.py) defines `__call__` with the endpoint's options; bad input raises
    InputError (a ValueError) with the message the endpoint's 400 carries."""

    def __init__(self, predictor):
        self.predictor = predictor

    @property
    def model(self) -> str:
        return self.predictor.name

    @property
    def card(self) -> ModelCard:
        return self.predictor.card

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model={self.model!r}, providers={self.predictor.providers})"

    def from_command_line(self, inputs: list[str], options: dict[str, Any]) -> dict:
        """`rnnzoo predict <task> INPUT... -o key=value`: the command line's words as this task's inputs. The
        default reads each word as one text; tasks whose input is numbers or a file override it."""
        return self(inputs, **options)


@dataclass(frozen=True)
class Task:
    """Every fact about one task that code outside the task's own folders needs."""
    name: str  # as on the cards and in /models
    title: str  # for tables, with the data set: "... (SST-2)"
    predictor: type  # a Predictor class
    pipeline: type  # a Pipeline class: the predictor with plain-Python inputs and outputs (zoo.pipeline)
    headline_metric: str  # the card metric a task's default model is chosen by
    higher_is_better: bool
    int8_tolerance: float  # largest change of the headline metric, in its worse direction, an int8 variant may cost
    int8_tolerance_relative: bool  # the tolerance is that fraction of the source's value, not an absolute change
    latency_input: str  # what one batch-1 call reads in the leaderboard's latency column
    latency_steps: int  # its steps (tokens, days, hours)
    training_unit: str  # what TrainingRun.epochs counts: "epochs" or "steps"
    models: tuple[ModelSpec, ...]  # the registered variants, tiny test twins and int8 variants included

    def check_contract(self, card: ModelCard) -> None:
        """Raises ValidationError unless the card's tensors are what the task's predictor feeds and reads."""
        self.predictor.check_contract(card)

    def load(self, directory: Path, providers: list[str] | None = None, with_session: bool = True,
             threads: int = 1):
        return self.predictor(directory, providers, with_session, threads)

    def within_int8_tolerance(self, source_value: float, value: float) -> tuple[bool, float]:
        """Whether an int8 variant's headline metric is close enough to its source's, and the allowance."""
        tolerance = self.int8_tolerance * (source_value if self.int8_tolerance_relative else 1.0)
        worse_by = (source_value - value) if self.higher_is_better else (value - source_value)
        return worse_by <= tolerance + 1e-12, tolerance

    def best(self, cards: list[ModelCard]) -> str | None:
        """The name of the task's best card by its headline metric, or None when the task has no card."""
        of_task = [card for card in cards if card.task == self.name]
        if not of_task:
            return None
        choose = max if self.higher_is_better else min
        return choose(of_task, key=lambda card: card.metric(self.headline_metric).value).name
