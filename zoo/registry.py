"""The one way to a model: a table of named variants, each only setting arguments of a shared class.

Reading the table needs no torch, so the service can list and validate names; `create_model`
imports torch lazily and is used by training, export and tests.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoo.forecasting import FEATURES, HORIZONS, QUANTILES
from zoo.vitals import FEATURE_COUNT, VITALS

TASKS = ("sentiment", "generation", "forecasting", "vitals")


class UnknownModelError(KeyError):
    def __init__(self, name: str, valid: list[str]):
        self.name, self.valid = name, valid
        super().__init__(f"unknown model {name!r}; valid names: {', '.join(valid)}")

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return self.args[0]


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    architecture: str  # class name in zoo.models
    arguments: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    shipped: bool = True  # False for tiny test-* variants and for models whose artifact is not committed yet
    quantized_from: str | None = None  # int8 variants: the fp32 model whose file training.quantize rounded


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    if spec.task not in TASKS:
        raise ValueError(f"model {spec.name!r} has task {spec.task!r}; tasks are {TASKS}")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(task: str | None = None, include_test: bool = False) -> list[str]:
    """Names of shipped models; include_test adds the unshipped ones (test-* twins, models in training)."""
    if task is not None and task not in TASKS:
        raise ValueError(f"unknown task {task!r}; tasks are {', '.join(TASKS)}")
    return sorted(
        name
        for name, spec in _REGISTRY.items()
        if (task is None or spec.task == task) and (include_test or spec.shipped)
    )


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(name, list_models(include_test=True)) from None


def create_model(name: str, **overrides):
    """Build the torch module of a registered variant; overrides replace its arguments."""
    from zoo import models  # torch lives behind this import: serving never reaches it

    spec = get_spec(name)
    return getattr(models, spec.architecture)(**{**spec.arguments, **overrides})


# --- sentiment: SST-2, WordPiece tokens of the MiniLM vocabulary -------------------------------
# The embedding table is 30,522 x 128 so the shipped fp16 file stays under 10 MB; training starts
# it from MiniLM's 384-d word embeddings through a learned projection that export folds in.
_SENTIMENT = dict(vocab_size=30522, embedding_dim=128, hidden_size=256, num_layers=1,
                  bidirectional=True, dropout=0.3, num_classes=2)
for _cell in ("rnn", "lstm", "gru"):
    register(ModelSpec(
        name=f"sst2-{_cell}", task="sentiment", architecture="SentimentClassifier",
        arguments=dict(_SENTIMENT, cell=_cell),
        description=f"Bidirectional {_cell.upper()} sentiment classifier over WordPiece tokens (SST-2)",
    ))
    # Tiny twins so tests build, train and export every cell type in seconds.
    register(ModelSpec(
        name=f"test-sst2-{_cell}", task="sentiment", architecture="SentimentClassifier",
        arguments=dict(vocab_size=30522, embedding_dim=8, hidden_size=8, num_layers=2,
                       bidirectional=True, dropout=0.0, num_classes=2, cell=_cell),
        description="tiny test variant", shipped=False,
    ))


# --- generation: character-level language models on Tiny Shakespeare ------------------------------
# 2x512 with dropout 0.25: the 2x256 LSTM plateaued near 1.47 nats/char; twice the width fits the
# 90-minute budget on 2 cores (about 150 s per epoch of 1M characters) and dropout holds off overfitting.
_SHAKESPEARE = dict(vocab_size=65, embedding_dim=64, hidden_size=512, num_layers=2, dropout=0.25)
for _cell in ("rnn", "lstm", "gru"):
    register(ModelSpec(
        name=f"shakespeare-{_cell}", task="generation", architecture="CharLanguageModel",
        arguments=dict(_SHAKESPEARE, cell=_cell),
        description=f"2-layer {_cell.upper()} character-level language model of Tiny Shakespeare",
    ))
    register(ModelSpec(
        name=f"test-shakespeare-{_cell}", task="generation", architecture="CharLanguageModel",
        arguments=dict(vocab_size=65, embedding_dim=8, hidden_size=16, num_layers=2, dropout=0.0, cell=_cell),
        description="tiny test variant", shipped=False,
    ))


# --- forecasting: daily stock closes -> quantiles of the cumulative log return, 1..5 days ahead ---------
# Small on purpose: about 8,000 overlapping training windows from four tickers, and a signal that is
# mostly volatility. The window, features and quantiles live in zoo.forecasting.
_STOCK = dict(num_features=len(FEATURES), hidden_size=32, num_layers=1, dropout=0.1, horizons=HORIZONS,
              quantiles=QUANTILES)
for _cell in ("rnn", "lstm", "gru"):
    register(ModelSpec(
        name=f"stock-{_cell}", task="forecasting", architecture="QuantileForecaster",
        arguments=dict(_STOCK, cell=_cell),
        description=f"{_cell.upper()} quantile forecaster of daily stock log returns, 1 to 5 trading days ahead",
    ))
    register(ModelSpec(
        name=f"test-stock-{_cell}", task="forecasting", architecture="QuantileForecaster",
        arguments=dict(_STOCK, hidden_size=4, cell=_cell),
        description="tiny test variant", shipped=False,
    ))


# --- vitals: PhysioNet 2012 ICU stays -> hourly mortality risk and next-hour vitals -------------------
# 64 units overfit after a few epochs on 3,400 stays already; five risk members average that noise away.
_VITALS = dict(num_features=FEATURE_COUNT, hidden_size=64, num_layers=1, dropout=0.3, num_vitals=len(VITALS),
               members=5, forecast_hidden_size=64)
for _cell in ("rnn", "lstm", "gru"):
    register(ModelSpec(
        name=f"vitals-{_cell}", task="vitals", architecture="VitalsMonitor", arguments=dict(_VITALS, cell=_cell),
        description=f"{_cell.upper()} ICU monitor: in-hospital mortality risk every hour and next-hour vitals "
                    "(PhysioNet 2012)",
    ))
    register(ModelSpec(
        name=f"test-vitals-{_cell}", task="vitals", architecture="VitalsMonitor",
        arguments=dict(_VITALS, hidden_size=4, members=2, forecast_hidden_size=4, cell=_cell),
        description="tiny test variant", shipped=False,
    ))


# --- int8 variants (training.quantize): the same networks with int8 weights. Only the LSTMs: onnxruntime
# has int8 kernels for LSTM but not GRU or RNN, so the others would keep their fp32 recurrences and gain
# nothing; the stock LSTM is too small to gain either (measured in service/benchmarks/performance.py).
for _source in ("sst2-lstm", "shakespeare-lstm", "vitals-lstm"):
    _spec = _REGISTRY[_source]
    register(ModelSpec(
        name=f"{_source}-int8", task=_spec.task, architecture=_spec.architecture, arguments=dict(_spec.arguments),
        description=f"{_spec.description}, int8 weights", quantized_from=_source,
    ))
