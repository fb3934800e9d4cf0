"""Typed model cards: one JSON file beside each model's weights, read by the service and the tests."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

from zoo.artifacts import ARTIFACTS_DIR

CARD_FILE = "card.json"
MODEL_FILE = "model.onnx"


class CardError(ValueError):
    """A card that cannot be read: missing, not JSON, or not shaped like a ModelCard."""


@dataclass
class Architecture:
    cell: str  # "rnn", "lstm" or "gru"
    num_layers: int
    hidden_size: int
    bidirectional: bool
    embedding_dim: int
    vocab_size: int
    parameter_count: int


@dataclass
class TensorSpec:
    name: str
    dtype: str
    shape: list[int | str]  # strings are dynamic axes ("batch", "sequence")
    description: str


@dataclass
class Preprocessing:
    tokenizer_file: str  # "" for models that read numbers, not text
    tokenizer_sha256: str
    max_chars: int  # longest input accepted: characters of text, or closes of a price series
    labels: list[str]
    normalisation: str
    statistics: dict[str, typing.Any] = field(default_factory=dict)  # numeric models: window, feature scaling


@dataclass
class TrainingData:
    dataset: str
    source: str
    license: str
    train_split: str
    evaluation_split: str


@dataclass
class Metric:
    name: str
    split: str
    value: float
    baseline: str
    baseline_value: float
    examples: int


@dataclass
class TrainingRun:
    seconds: float
    hardware: str
    epochs: int
    seed: int
    command: str
    config: dict[str, typing.Any] = field(default_factory=dict)


@dataclass
class ParityVectors:
    """Inputs and the outputs the model's source computed for them (training framework, Keras, a numpy
    reference...), in an .npz beside the card: arrays "input:<name>" and "output:<name>". Loading the
    artifact runs the inputs through onnxruntime and refuses the model if any output is further off
    than `tolerance`: a file that does not compute what its source computed is never served."""
    file: str
    sha256: str
    source: str  # what computed the expected outputs, e.g. "torch 2.13.0+cpu eager"
    tolerance: float  # largest |onnxruntime - expected| allowed, over every output element
    max_abs_diff: float  # what onnxruntime gave when the vectors were written


@dataclass
class Export:
    onnx_file: str
    sha256: str
    opset: int
    exporter: str
    parity_max_abs_diff: float
    parity_tolerance: float
    size_bytes: int
    parity_vectors: ParityVectors | None = None


@dataclass
class Graph:
    """A model's second ONNX graph, run before its main one (a translator's encoder: the main graph is its decoder
    step). Checked as the main graph is: checksum, the task's contract, IO spec and parity vectors."""
    role: str  # what the task's predictor calls it, e.g. "encoder"
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    export: Export


@dataclass
class Quantization:
    """An int8 variant's record: where it came from and what quantization cost on the headline metric."""
    source: str  # the model whose file was quantized
    method: str
    quantized_ops: list[str]
    metric: str  # the headline metric, measured on the same split for both files
    source_value: float
    value: float
    tolerance: float  # the largest change in the worse direction allowed for shipping
    within_tolerance: bool


@dataclass
class ModelCard:
    name: str
    version: str
    task: str
    summary: str
    architecture: Architecture
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocessing: Preprocessing
    training_data: TrainingData
    metrics: list[Metric]
    training: TrainingRun
    export: Export
    intended_use: str
    limitations: list[str]
    samples: list[str] = field(default_factory=list)  # generation models: text written with a fixed seed
    figures: list[str] = field(default_factory=list)  # PNG files beside the card, e.g. a forecast plot
    quantization: Quantization | None = None  # int8 variants only
    graphs: list[Graph] = field(default_factory=list)  # graphs besides the main one (translation's encoder)
    # The license of the weights (a Hugging Face license id: apache-2.0, cc-by-sa-4.0, or "other" with the terms
    # in weights_license_terms); the training data's own license is training_data.license.
    weights_license: str = "other"
    weights_license_terms: str = ""

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(f"card {self.name} has no metric {name!r}; it has {[m.name for m in self.metrics]}")

    def graph(self, role: str) -> "ModelCard":
        """The card as its `role` graph sees it: that graph's tensors and export record, the rest shared, so the
        checks written for a main graph (zoo.checks) check it unchanged."""
        for graph in self.graphs:
            if graph.role == role:
                return dataclasses.replace(self, name=f"{self.name} ({role})", inputs=graph.inputs,
                                           outputs=graph.outputs, export=graph.export, graphs=[])
        raise KeyError(f"card {self.name} has no {role!r} graph; it has {[g.role for g in self.graphs]}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, directory: Path) -> Path:
        path = Path(directory) / CARD_FILE
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def from_dict(cls, data: dict) -> "ModelCard":
        return _build(cls, data, path="card")

    @classmethod
    def load(cls, directory: Path) -> "ModelCard":
        path = Path(directory) / CARD_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise CardError(f"{path} is missing") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise CardError(f"{path} is not valid JSON: {error}") from None
        return cls.from_dict(data)


def _build(kind, value, path: str):
    """Rebuild a (nested) dataclass from JSON, refusing unknown or missing keys and wrong types."""
    origin = typing.get_origin(kind)
    if dataclasses.is_dataclass(kind):
        if not isinstance(value, dict):
            raise CardError(f"{path} should be an object, got {type(value).__name__}")
        hints = typing.get_type_hints(kind)
        fields = {f.name: f for f in dataclasses.fields(kind)}
        unknown = set(value) - set(fields)
        if unknown:
            raise CardError(f"{path} has unknown keys {sorted(unknown)}; allowed: {sorted(fields)}")
        arguments = {}
        for name, spec in fields.items():
            if name not in value:
                if spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING:
                    raise CardError(f"{path} is missing key {name!r}")
                continue
            arguments[name] = _build(hints[name], value[name], f"{path}.{name}")
        return kind(**arguments)
    if origin is list:
        if not isinstance(value, list):
            raise CardError(f"{path} should be a list, got {type(value).__name__}")
        (item_kind,) = typing.get_args(kind)
        return [_build(item_kind, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise CardError(f"{path} should be an object, got {type(value).__name__}")
        return value
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(kind):
            try:
                return _build(option, value, path)
            except CardError:
                continue
        raise CardError(f"{path} has the wrong type: {value!r}")
    if kind is typing.Any:
        return value
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind in (int, float) and isinstance(value, bool):
        raise CardError(f"{path} should be {kind.__name__}, got bool")
    if not isinstance(value, kind):
        raise CardError(f"{path} should be {kind.__name__}, got {type(value).__name__}")
    return value


def load_cards(directory: Path = ARTIFACTS_DIR, skip_broken: typing.Callable[[Path, CardError], None] | None = None
               ) -> list[ModelCard]:
    """The card of every model folder in `directory`, by folder name. A card that cannot be read raises, or with
    `skip_broken` is handed to it (folder, error) and left out."""
    cards = []
    for folder in sorted(p for p in Path(directory).iterdir() if (p / CARD_FILE).is_file()):
        try:
            cards.append(ModelCard.load(folder))
        except CardError as error:
            if skip_broken is None:
                raise
            skip_broken(folder, error)
    return cards


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
