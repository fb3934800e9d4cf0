"""Load the zoo's models: one by name (`load`), a task's best as a plain-Python pipeline (`pipeline`), or every
artifact folder at once for the service (`load_zoo`), refusing broken ones with the reason."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import onnxruntime as ort

from zoo.artifacts import ARTIFACTS_DIR, ArtifactError, choose_providers, log
from zoo.cards import CARD_FILE, CardError, ModelCard, load_cards
from zoo.registry import get_spec, get_task, list_models
from zoo.task import Pipeline, Predictor
from zoo.tasks import TASKS


def default_model(cards: list[ModelCard], task: str) -> str | None:
    """The name of the task's best card by its headline metric, or None when the task has no card."""
    return TASKS[task].best(cards)


def best_model(task: str, directory: Path = ARTIFACTS_DIR) -> str:
    """The task's model the service answers with when a request names none: its best card in `directory` by
    the task's headline metric (cards only: no model is opened)."""
    get_task(task)  # ValueError naming the tasks
    # one broken folder does not hide the others (the service refuses it too)
    cards = load_cards(directory, skip_broken=lambda folder, error: log.warning("skipping %s: %s", folder.name, error))
    best = TASKS[task].best(cards)
    if best is None:
        raise ArtifactError(f"no {task} model in {directory}; train and export one (training/README.md)")
    return best


def load(name: str, providers: list[str] | None = None, threads: int = 1,
         directory: Path = ARTIFACTS_DIR) -> Predictor:
    """The model `name` ready to run on onnxruntime, as the service loads it: the card read, every file's sha256
    checked, the tensors matched to the task's contract and the parity vectors replayed. No torch involved.

    `providers` defaults to CUDA where onnxruntime-gpu is installed, else CPU; `threads` is onnxruntime's
    intra-op threads. Raises UnknownModelError (a KeyError naming the models) for an unregistered name and
    ArtifactError for a registered model with no artifact in `directory`."""
    spec = get_spec(name)
    folder = Path(directory) / name
    if not (folder / CARD_FILE).is_file():
        raise ArtifactError(f"{name} is registered but has no artifact in {directory}; shipped models: "
                            f"{', '.join(sorted(p.name for p in Path(directory).iterdir() if (p / CARD_FILE).is_file()))}")
    return TASKS[spec.task].load(folder, providers, True, threads)


def pipeline(task: str, model: str | None = None, providers: list[str] | None = None, threads: int = 1,
             directory: Path = ARTIFACTS_DIR) -> Pipeline:
    """A task's model with plain-Python inputs and outputs: calling it answers as the task's HTTP endpoint does
    (README: Use it from Python and the shell). `model` defaults to the service's default, the task's best card."""
    name = model if model is not None else best_model(task, directory)
    predictor = load(name, providers, threads, directory)
    if predictor.card.task != task:
        raise ValueError(f"{name} is a {predictor.card.task} model, not {task}; {task} models: "
                         f"{', '.join(list_models(task))}")
    return TASKS[task].pipeline(predictor)


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
