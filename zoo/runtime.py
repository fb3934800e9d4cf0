"""Load every artifact folder of a zoo into its task's predictor, refusing broken ones with the reason."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime as ort

from zoo.artifacts import ARTIFACTS_DIR, ArtifactError, choose_providers, log
from zoo.cards import CardError, ModelCard
from zoo.task import Predictor
from zoo.tasks import TASKS


def default_model(cards: list[ModelCard], task: str) -> str | None:
    """The name of the task's best card by its headline metric, or None when the task has no card."""
    return TASKS[task].best(cards)


@dataclass
class Zoo:
    """Every artifact directory found, loaded or refused with the reason."""

    predictors: dict[str, Predictor] = field(default_factory=dict)
    broken: dict[str, str] = field(default_factory=dict)

    def of_task(self, task: str) -> dict[str, Predictor]:
        return {name: p for name, p in self.predictors.items() if p.card.task == task}

    def defaults(self) -> dict[str, str]:
        """Each task's default model: the best loaded card by the task's headline metric."""
        cards = [predictor.card for predictor in self.predictors.values()]
        return {name: best for name, task in TASKS.items() if (best := task.best(cards)) is not None}


def load_zoo(directory: Path = ARTIFACTS_DIR, providers: list[str] | None = None,
             session_tasks: tuple[str, ...] = tuple(TASKS), threads: int = 1,
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
            task = TASKS.get(card.task)
            if task is None:
                raise CardError(f"task {card.task!r} has no predictor; tasks: {sorted(TASKS)}")
            with_session = card.task in session_tasks
            zoo.predictors[card.name] = task.load(model_dir, providers, with_session,
                                                  (task_threads or {}).get(card.task, threads))
            if with_session:
                log.info("loaded %s (sha256 %s...) on %s", card.name, card.export.sha256[:12],
                         zoo.predictors[card.name].providers)
        except (CardError, ArtifactError, OSError) as error:
            zoo.broken[model_dir.name] = str(error)
            log.error("not serving %s: %s", model_dir.name, error)
    return zoo
