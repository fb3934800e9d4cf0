"""What every endpoint shares, whatever its task: the loaded zoo, model resolution (one function, one set of
error texts), the request batchers and session step batchers, and the rule that a 503 says why.

`ModelServer` is the base of each task's endpoint class (service/tasks/) and of the service itself."""
from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

from bentoml.exceptions import InvalidArgument, NotFound
from starlette.responses import JSONResponse

from service.batching import Overloaded, RequestBatcher
from service.metrics import ServiceMetrics
from service.sessions import Session, SessionStore, StepBatcher
from service.settings import Settings
from zoo.artifacts import log
from zoo.runtime import Zoo
from zoo.task import Predictor, StatefulPredictor


class Unavailable(RuntimeError):
    """A request the service cannot take now (overloaded, model not served, a failed session step): 503."""


def unavailable_as_503(endpoint):
    """BentoML answers every 5xx exception with a generic message; a 503 must say why and when to retry."""
    @functools.wraps(endpoint)
    async def answer(*args, **kwargs):
        try:
            return await endpoint(*args, **kwargs)
        except Unavailable as error:
            return JSONResponse({"error": str(error)}, status_code=HTTPStatus.SERVICE_UNAVAILABLE,
                                headers={"Retry-After": "1"})
    return answer


class ModelServer:
    """The state the endpoints share; RNNZoo.__init__ fills it once per worker."""

    settings: Settings
    zoo: Zoo
    defaults: dict[str, str]  # task -> its default model: the best loaded card by the task's headline metric
    model_thread: ThreadPoolExecutor  # one-shot models: their calls queue rather than compete for the cores
    session_thread: ThreadPoolExecutor
    batchers: dict[str, RequestBatcher]
    session_batchers: dict[str, StepBatcher]
    sessions: SessionStore
    metrics: ServiceMetrics
    session: type[Session] | None = None  # a task's endpoint class: the Session subclass of its sessions, if any
    upload_routes: tuple[str, ...] = ()  # its routes that take multipart/form-data file uploads, not JSON

    def prepare(self) -> None:
        """A task's endpoint class sets up what its endpoints keep (RNNZoo.__init__ calls it once)."""

    def versioned(self, name: str) -> str:
        """`name@version` -> name, if that version is the one loaded (a card's version is part of its identity)."""
        name, _, version = name.partition("@")
        predictor = self.zoo.predictors.get(name)
        if version and predictor is not None and version != predictor.card.version:
            raise NotFound(f"model {name!r} is served at version {predictor.card.version!r}, not {version!r}; ask "
                           f"for {name}@{predictor.card.version} or {name}")
        return name

    def resolve(self, name: str | None, tasks: tuple[str, ...], kind: str, wrong_task: str | None = None,
                default: str | None = None, listed=lambda predictor: True) -> Predictor:
        """The predictor a request names (or `default`, a loaded model's name) among the models of `tasks`,
        which errors call `kind` ("sentiment models", "models with sessions") and list when `listed` says so;
        `wrong_task` (default "; <kind>") follows "is a <task> model" when the name is another task's. 404
        unknown, 400 another task's model, 503 refused at start-up."""
        if name is None:
            return self.zoo.predictors[default]
        name = self.versioned(name)
        predictor = self.zoo.predictors.get(name)
        if predictor is not None and predictor.card.task in tasks:
            return predictor
        # the error texts list the accepted models: built only on this path, not for every request
        accepted = ", ".join(sorted(n for n, p in self.zoo.predictors.items() if p.card.task in tasks and listed(p)))
        if name in self.zoo.broken:  # in the zoo folder, but refused at start-up: say why, not "unknown"
            raise Unavailable(f"model {name!r} is not served: {self.zoo.broken[name]}; {kind}: {accepted}")
        if predictor is None:
            raise NotFound(f"unknown model {name!r}; {kind}: {accepted}")
        raise InvalidArgument(f"model {name!r} is a {predictor.card.task} model{wrong_task or '; ' + kind}: {accepted}")

    def model(self, task: str, name: str | None) -> Predictor:
        """A one-shot endpoint's model: the one named, or the task's default."""
        if name is None and task not in self.defaults:
            raise NotFound(f"no {task} model is loaded; models: {sorted(self.zoo.predictors)}")
        return self.resolve(name, (task,), f"{task} models", default=self.defaults.get(task))

    async def predict(self, predictor: Predictor, rows: list, max_batch: int, max_queued: int) -> list:
        """One result per row, from calls that merge the rows of concurrent requests (at most `max_batch`
        rows a call; past `max_queued` waiting rows a request gets 503)."""
        if predictor.name not in self.batchers:
            self.batchers[predictor.name] = RequestBatcher(
                predictor.run, self.model_thread, max_batch, max_queued, merge=self.settings.batching,
                observe=self.metrics.request_batch.labels(predictor.card.task, predictor.name).observe)
        try:
            return await self.batchers[predictor.name].submit(rows)
        except Overloaded as error:
            raise Unavailable(str(error)) from None

    def session_batcher(self, predictor: StatefulPredictor) -> StepBatcher:
        """Merges the steps of concurrent sessions of one model (predictor.step)."""
        if predictor.name not in self.session_batchers:
            self.session_batchers[predictor.name] = StepBatcher(
                predictor.step, self.session_thread, observe=self.metrics.session_batch.labels(predictor.name).observe)
        return self.session_batchers[predictor.name]

    def failed_step(self, session: Session) -> Unavailable:
        """A model call failed half-way through a step (logged with the cause): in memory the session's history
        and state may disagree now, so it ends; a shared store still holds the last committed step."""
        log.exception("session step failed on %s", session.model)
        if self.sessions.discard(session):
            return Unavailable("the model failed on this step; the session has ended, start a new one")
        return Unavailable("the model failed on this step; the session is as it was before it, retry the step")
