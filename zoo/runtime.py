"""Load shipped artifacts into onnxruntime after checking their sha256, and run them (no torch)."""
from __future__ import annotations

import hashlib
import logging
import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime as ort

from zoo.cards import MODEL_FILE, CardError, ModelCard
from zoo.forecasting import FeatureStatistics, features as forecast_features, to_log_returns
from zoo.vitals import Record, VitalsStatistics, carried_forward, vital_targets
from zoo.text import CharVocabulary, WordPieceTokenizer

ARTIFACTS_DIR = Path(__file__).parent / "artifacts"
PROVIDERS_ENV = "RNNZOO_PROVIDERS"
START_CHARACTER = "\n"
log = logging.getLogger("bentoml.rnnzoo")  # under bentoml so `bentoml serve` shows it


class ArtifactError(RuntimeError):
    """An artifact that must not be served: missing file, checksum mismatch, unreadable model."""


def choose_providers(requested: str | None = None) -> list[str]:
    """CUDA when onnxruntime has it, else CPU; RNNZOO_PROVIDERS="A,B" overrides the order."""
    available = ort.get_available_providers()
    requested = requested if requested is not None else os.environ.get(PROVIDERS_ENV, "")
    if requested.strip():
        providers = [p.strip() for p in requested.split(",") if p.strip()]
        missing = [p for p in providers if p not in available]
        if missing:
            raise ValueError(f"{PROVIDERS_ENV} asks for {missing}, which this onnxruntime lacks; "
                             f"available: {available}")
        return providers
    preferred = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
    return preferred or available


def cpu_name() -> str:
    """The processor's model name, as the cards, benchmarks and leaderboard record the machine."""
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def verified_bytes(path: Path, expected_sha256: str) -> bytes:
    """The file's bytes, only if they hash to the expected value (read once: no check-then-swap)."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ArtifactError(f"{path} is missing") from None
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected_sha256:
        raise ArtifactError(f"{path} has sha256 {actual}, but its card says {expected_sha256}; refusing to load it")
    return data


def create_session(model_bytes: bytes, providers: list[str], threads: int = 1) -> ort.InferenceSession:
    options = ort.SessionOptions()
    # One intra-op thread per worker by default: on small CPUs oversubscription costs far more than
    # it gains; throughput comes from more workers and from batching.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model_bytes, sess_options=options, providers=providers)
    except Exception as error:  # onnxruntime raises its own Fail/InvalidGraph/... types
        raise ArtifactError(f"onnxruntime cannot load the model: {error}") from None


def open_session(directory: Path, card: ModelCard, providers: list[str] | None, with_session: bool,
                 threads: int) -> tuple[ort.InferenceSession | None, list[str]]:
    """The checked onnxruntime session of an artifact (zoo.validate: checksum, task contract, IO spec, parity
    vectors) and the providers it really uses. Without a session only the checksum and contract are checked,
    so every process agrees on what is broken."""
    from zoo.validate import check_contract, check_io, check_parity

    check_contract(card)
    model_bytes = verified_bytes(Path(directory) / MODEL_FILE, card.export.sha256)
    providers = providers or choose_providers()
    if not with_session:  # only the card and tokenizer are needed (tests, the naive server)
        return None, providers
    session = create_session(model_bytes, providers, threads)
    check_io(card, session)
    check_parity(card, directory, session)
    return session, session.get_providers()  # what onnxruntime really uses (CUDA may fall back)


def example_inputs(card: ModelCard, batch: int, steps: int, rng: np.random.Generator,
                   whole_rows: bool = False, zero_state: bool = False) -> dict[str, np.ndarray]:
    """Random feeds shaped as the card's inputs, for parity checks and benchmarks: token ids below the
    vocabulary size (at most 2,000), `lengths` from 1 to `steps` (all `steps` with whole_rows), features and
    state drawn from N(0, 0.25) (state zeros with zero_state: a new sequence)."""
    feeds = {}
    for spec in card.inputs:
        shape = [batch if d == "batch" else steps if isinstance(d, str) else d for d in spec.shape]
        if spec.name == "lengths":
            feeds[spec.name] = (np.full(batch, steps) if whole_rows else rng.integers(1, steps + 1, batch)).astype(np.int64)
        elif spec.dtype == "int64":
            feeds[spec.name] = rng.integers(1, min(card.architecture.vocab_size or 60, 2000), shape).astype(np.int64)
        elif zero_state and spec.name != "features":
            feeds[spec.name] = np.zeros(shape, dtype=np.float32)
        else:
            feeds[spec.name] = (0.5 * rng.standard_normal(shape)).astype(np.float32)
    return feeds


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


class SentimentPredictor:
    """Card + tokenizer + ONNX session of one sentiment model; texts in, class probabilities out."""

    max_rows_per_run = 256  # evaluation batches larger inputs in length-sorted chunks of this size

    def __init__(self, directory: Path, providers: list[str] | None = None, with_session: bool = True,
                 threads: int = 1):
        self.directory = Path(directory)
        self.card = ModelCard.load(self.directory)
        if self.card.task != "sentiment":
            raise CardError(f"{self.card.name} is a {self.card.task} model, not sentiment")
        preprocessing = self.card.preprocessing
        tokenizer_path = self.directory / preprocessing.tokenizer_file
        verified_bytes(tokenizer_path, preprocessing.tokenizer_sha256)
        self.tokenizer = WordPieceTokenizer(tokenizer_path, max_chars=preprocessing.max_chars)
        self.session, self.providers = open_session(self.directory, self.card, providers, with_session, threads)
        self.labels = preprocessing.labels

    @property
    def name(self) -> str:
        return self.card.name

    def probabilities_from_ids(self, ids: list[list[int]]) -> np.ndarray:
        """(N, C) class probabilities for token-id lists, in input order."""
        order = np.argsort([len(x) for x in ids], kind="stable")  # similar lengths pad less
        result = np.empty((len(ids), len(self.labels)), dtype=np.float32)
        for start in range(0, len(ids), self.max_rows_per_run):
            rows = order[start : start + self.max_rows_per_run]
            batch = self.tokenizer.pad([ids[i] for i in rows])
            (logits,) = self.session.run(["logits"], {"token_ids": batch.token_ids, "lengths": batch.lengths})
            result[rows] = softmax(logits)
        return result

    def probabilities(self, texts: list[str]) -> np.ndarray:
        return self.probabilities_from_ids(self.tokenizer.encode(texts))


class CharGenerator:
    """Card + character vocabulary + step-capable ONNX session of one character language model.

    The graph takes `tokens (B, T)` and the state (`h0`, and `c0` for LSTMs), and returns `logits
    (B, T, V)` and the new state, so a prompt is one call and each new character one more call.
    """

    def __init__(self, directory: Path, providers: list[str] | None = None, with_session: bool = True,
                 threads: int = 1):
        self.directory = Path(directory)
        self.card = ModelCard.load(self.directory)
        if self.card.task != "generation":
            raise CardError(f"{self.card.name} is a {self.card.task} model, not generation")
        vocabulary_path = self.directory / self.card.preprocessing.tokenizer_file
        verified_bytes(vocabulary_path, self.card.preprocessing.tokenizer_sha256)
        self.vocabulary = CharVocabulary.load(vocabulary_path)
        # An empty prompt starts as if after a line break: where the corpus' speeches begin.
        self.start_id = self.vocabulary.index.get(START_CHARACTER, 0)
        self.state_names = [spec.name for spec in self.card.inputs if spec.name != "tokens"]  # h0 (, c0)
        self.state_shape = [self.card.architecture.num_layers, self.card.architecture.hidden_size]
        self.session, self.providers = open_session(self.directory, self.card, providers, with_session, threads)

    @property
    def name(self) -> str:
        return self.card.name

    def initial_state(self, batch_size: int) -> list[np.ndarray]:
        layers, hidden = self.state_shape
        return [np.zeros((layers, batch_size, hidden), dtype=np.float32) for _ in self.state_names]

    def step(self, tokens: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        """tokens (B, T) int64 and state [(L, B, H), ...] -> logits (B, T, V), new state."""
        feeds = {"tokens": tokens, **dict(zip(self.state_names, state))}
        logits, *new_state = self.session.run(None, feeds)
        return logits, new_state

    def nats_per_char(self, text: str, chunk: int = 1024) -> float:
        """Mean next-character loss over `text` read as one stream from the zero state."""
        ids = self.vocabulary.encode(text)
        state, total = self.initial_state(1), 0.0
        for start in range(0, len(ids) - 1, chunk):
            inputs = ids[start : min(start + chunk, len(ids) - 1)][None, :]  # (1, T)
            targets = ids[start + 1 : start + 1 + inputs.shape[1]]
            logits, state = self.step(inputs, state)
            log_probabilities = logits[0] - np.logaddexp.reduce(logits[0], axis=-1, keepdims=True)
            total -= log_probabilities[np.arange(len(targets)), targets].sum()
        return float(total / (len(ids) - 1))


class StockForecaster:
    """Card + feature statistics + ONNX session of one stock model: closes in, log-return quantiles out.

    The graph takes `features (B, W, F)` and returns quantiles `(B, H, Q)` in units of each window's
    volatility; zoo.forecasting turns closes into features and the output back into log returns.
    """

    def __init__(self, directory: Path, providers: list[str] | None = None, with_session: bool = True,
                 threads: int = 1):
        self.directory = Path(directory)
        self.card = ModelCard.load(self.directory)
        if self.card.task != "forecasting":
            raise CardError(f"{self.card.name} is a {self.card.task} model, not forecasting")
        settings = self.card.preprocessing.statistics
        try:
            self.statistics = FeatureStatistics.from_dict(settings)
            self.window, self.horizons = int(settings["window"]), int(settings["horizons"])
            self.quantiles = [float(q) for q in settings["quantiles"]]
            if not {0.1, 0.5, 0.9} <= set(self.quantiles):  # what /stock_forecast answers with
                raise ValueError(f"quantiles {self.quantiles} lack one of 0.1, 0.5, 0.9")
        except (KeyError, TypeError, ValueError) as error:
            raise CardError(f"{self.card.name}: preprocessing.statistics is incomplete: {error}") from None
        self.max_closes = self.card.preprocessing.max_chars
        self.session, self.providers = open_session(self.directory, self.card, providers, with_session, threads)

    @property
    def name(self) -> str:
        return self.card.name

    def log_return_quantiles(self, closes: np.ndarray) -> np.ndarray:
        """(B, W+1) positive closes, oldest first -> (B, H, Q) quantiles of the cumulative log return."""
        inputs, scale = forecast_features(np.log(closes), self.statistics)
        (scaled,) = self.session.run(None, {"features": inputs})
        return to_log_returns(scaled, scale)


class VitalsPredictor:
    """Card + statistics + ONNX session of one ICU monitor: hourly features in, hourly risk and the next
    hour's vitals out. zoo.vitals turns observations into features."""

    def __init__(self, directory: Path, providers: list[str] | None = None, with_session: bool = True,
                 threads: int = 1):
        self.directory = Path(directory)
        self.card = ModelCard.load(self.directory)
        if self.card.task != "vitals":
            raise CardError(f"{self.card.name} is a {self.card.task} model, not vitals")
        settings = self.card.preprocessing.statistics
        try:
            self.statistics = VitalsStatistics.from_dict(settings)
            self.vital_mean = np.array(settings["vital_mean"], dtype=np.float64)
            self.vital_std = np.array(settings["vital_std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as error:
            raise CardError(f"{self.card.name}: preprocessing.statistics is incomplete: {error}") from None
        # risk_h0 (, risk_c0), forecast_h0 (, forecast_c0): (cores x layers, batch, hidden)
        self.state_names = [spec.name for spec in self.card.inputs if spec.name != "features"]
        self.state_shapes = [spec.shape for spec in self.card.inputs if spec.name != "features"]
        if not self.state_names:
            raise CardError(f"{self.card.name}: the card lists no state inputs; re-export it with training.export_vitals")
        self.session, self.providers = open_session(self.directory, self.card, providers, with_session, threads)

    @property
    def name(self) -> str:
        return self.card.name

    def initial_state(self, batch_size: int) -> list[np.ndarray]:
        """Zeros: the state before a stay's first hour, [(cores x layers, B, H), ...] as on the card."""
        return [np.zeros((shape[0], batch_size, shape[2]), dtype=np.float32) for shape in self.state_shapes]

    def run(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """features (B, T, F) of whole stays -> mortality risk (B, T), vitals change (B, T, 5) in vital stds."""
        risk, change, _ = self.step(inputs, self.initial_state(len(inputs)))
        return risk, change

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        """features (B, T, F) of the hours after `state` -> risk (B, T), change (B, T, 5), the state after them."""
        feeds = {"features": inputs.astype(np.float32), **dict(zip(self.state_names, state))}
        risk, change, *new_state = self.session.run(None, feeds)
        return risk, change, new_state

    def next_hour(self, record: Record, change: np.ndarray) -> np.ndarray:
        """(5,) the vitals expected in the hour after the record's last: last seen value (the training mean
        if never seen) plus the predicted change."""
        return self.expected_vitals(carried_forward(vital_targets(record))[record.hours_observed - 1], change)

    def expected_vitals(self, carried: np.ndarray, change: np.ndarray) -> np.ndarray:
        """(5,) last seen vitals (NaN: never seen, the training mean stands in) + (5,) change -> next hour's."""
        return np.where(np.isnan(carried), self.vital_mean, carried) + change * self.vital_std


# Each task's headline metric and whether higher is better: a task's default model is the best by it.
HEADLINE_METRICS = {"sentiment": ("accuracy", True), "generation": ("validation_loss_nats_per_char", False),
                    "forecasting": ("pinball_loss", False), "vitals": ("mortality_auroc", True)}


def default_model(cards: list[ModelCard], task: str) -> str | None:
    """The name of the task's best card by its headline metric, or None when the task has no card."""
    metric, higher_is_better = HEADLINE_METRICS[task]
    of_task = [card for card in cards if card.task == task]
    if not of_task:
        return None
    return (max if higher_is_better else min)(of_task, key=lambda card: card.metric(metric).value).name


PREDICTORS = {"sentiment": SentimentPredictor, "generation": CharGenerator, "forecasting": StockForecaster,
              "vitals": VitalsPredictor}


@dataclass
class Zoo:
    """Every artifact directory found, loaded or refused with the reason."""

    predictors: dict[str, SentimentPredictor | CharGenerator | StockForecaster | VitalsPredictor] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    def of_task(self, task: str) -> dict[str, SentimentPredictor | CharGenerator | StockForecaster | VitalsPredictor]:
        return {name: p for name, p in self.predictors.items() if p.card.task == task}


def load_zoo(directory: Path = ARTIFACTS_DIR, providers: list[str] | None = None,
             session_tasks: tuple[str, ...] = tuple(PREDICTORS), threads: int = 1,
             task_threads: dict[str, int] | None = None) -> Zoo:
    """Every model in `directory`, verified; onnxruntime sessions (of `threads` intra-op threads, or
    `task_threads[task]`) only for models of `session_tasks`."""
    zoo = Zoo()
    providers = providers or choose_providers()
    if session_tasks:
        log.info("onnxruntime providers requested: %s (available: %s)", providers, ort.get_available_providers())
    for model_dir in sorted(p for p in Path(directory).iterdir() if p.is_dir()):
        try:
            card = ModelCard.load(model_dir)
            predictor_class = PREDICTORS.get(card.task)
            if predictor_class is None:
                raise CardError(f"task {card.task!r} has no predictor; tasks: {sorted(PREDICTORS)}")
            with_session = card.task in session_tasks
            zoo.predictors[card.name] = predictor_class(model_dir, providers, with_session,
                                                         (task_threads or {}).get(card.task, threads))
            if with_session:
                log.info("loaded %s (sha256 %s...) on %s", card.name, card.export.sha256[:12],
                         zoo.predictors[card.name].providers)
        except (CardError, ArtifactError, OSError) as error:
            zoo.broken[model_dir.name] = str(error)
            log.error("not serving %s: %s", model_dir.name, error)
    return zoo
