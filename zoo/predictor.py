"""What every task's predictor shares: read the card, verify each file, run the four checks (zoo.checks),
open the onnxruntime session. A task's predictor adds its preprocessing and the `run` (and `step`) verbs."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from zoo.artifacts import choose_providers, create_session, verified_bytes
from zoo.cards import MODEL_FILE, CardError, ModelCard
from zoo.checks import check_io, check_parity


class OnnxPredictor:
    """Card + verified ONNX session of one model. Subclasses set `task` (the card's task) and define
    `check_contract(card)` and `run(rows)`; recurrent ones derive from RecurrentPredictor."""

    task: str = ""

    def __init__(self, directory: Path, providers: list[str] | None = None, with_session: bool = True,
                 threads: int = 1):
        self.directory = Path(directory)
        self.card = ModelCard.load(self.directory)
        if self.card.task != self.task:
            raise CardError(f"{self.card.name} is a {self.card.task} model, not {self.task}")
        self.load_preprocessing()  # first: a card whose preprocessing is incomplete is refused with that reason
        self.check_contract(self.card)
        model_bytes = verified_bytes(self.directory / MODEL_FILE, self.card.export.sha256)
        self.providers = providers or choose_providers()
        self.session = None
        self.graphs = {}  # role -> session of each graph besides the main one (a translator's encoder)
        graph_bytes = {g.role: verified_bytes(self.directory / g.export.onnx_file, g.export.sha256)
                       for g in self.card.graphs}
        if with_session:  # without one only the card, checksum and contract are checked (tests, the naive server)
            self.session = create_session(model_bytes, self.providers, threads)
            check_io(self.card, self.session)
            check_parity(self.card, self.directory, self.session)
            for role, data in graph_bytes.items():
                self.graphs[role] = create_session(data, self.providers, threads)
                check_io(self.card.graph(role), self.graphs[role])
                check_parity(self.card.graph(role), self.directory, self.graphs[role])
            self.providers = self.session.get_providers()  # what onnxruntime really uses (CUDA may fall back)

    @staticmethod
    def check_contract(card: ModelCard) -> None:
        raise NotImplementedError

    def load_preprocessing(self) -> None:
        """Read what the task's preprocessing keeps beside the card (tokenizer, statistics), before the model."""

    def verified_file(self, name: str, sha256: str) -> Path:
        """A file beside the card, after checking its sha256."""
        verified_bytes(self.directory / name, sha256)
        return self.directory / name

    @property
    def name(self) -> str:
        return self.card.name

    def run(self, rows: list) -> list:
        raise NotImplementedError


class RecurrentPredictor(OnnxPredictor):
    """A predictor whose graph takes the recurrent state as inputs after `primary_input` and returns the new
    state after its other outputs (names *0 in, *N out), so a sequence can go on a step at a time."""

    primary_input = ""

    def load_preprocessing(self) -> None:
        self.state_names = [spec.name for spec in self.card.inputs if spec.name != self.primary_input]
        self.state_shapes = [spec.shape for spec in self.card.inputs if spec.name != self.primary_input]

    def initial_state(self, batch_size: int) -> list[np.ndarray]:
        """Zeros: the state before a sequence's first step, [(cores x layers, B, H), ...] as on the card."""
        return [np.zeros((shape[0], batch_size, shape[2]), dtype=np.float32) for shape in self.state_shapes]

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """inputs (B, T, ...) from state [(L, B, H), ...] -> ([outputs (B, T, ...), ...], the state after them)."""
        feeds = {self.primary_input: inputs, **dict(zip(self.state_names, state))}
        results = self.session.run(None, feeds)
        split = len(results) - len(self.state_names)
        return results[:split], results[split:]
