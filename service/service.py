"""One BentoML service for the zoo, in one process: its API verbs. Each task's endpoints come from its module
in service/tasks/ (listed in service/tasks/__init__.py); what they share is service/core.py; sessions'
rules are each task's Session subclass; configuration is service/settings.py.

    bentoml serve            # from the repository root (pyproject.toml's [tool.bentoml.build] names RNNZoo)
"""
from __future__ import annotations

import gc
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus

import bentoml
from bentoml.exceptions import BentoMLException, InvalidArgument, NotFound
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from service import patches
from service.core import Unavailable, unavailable_as_503
from service.limits import AdmissionLimit, BodySizeLimit, JSONRequests, max_body_bytes, max_in_progress
from service.metrics import ServiceMetrics
from service.open_inference import OpenInference
from service.open_inference import routes as open_inference_routes
from service.playground import routes as playground_routes
from service.session_api import (
    PRIMARY_FIELDS,
    SessionEndResponse,
    SessionId,
    SessionModel,
    SessionStartResponse,
    SessionStepResponse,
    with_step_fields,
)
from service.sessions import (
    MemorySessionStore,
    Session,
    SessionLimit,
    SessionStore,
    StepConflict,
    StepInputError,
    StoreUnavailable,
    UnknownSession,
)
from service.settings import STRICT_ENV, Settings, api_workers, tracing_config
from service.tasks import ENDPOINTS, SESSIONS
from zoo.artifacts import log
from zoo.runtime import load_zoo
from zoo.tasks import TASKS

patches.apply()  # before BentoML builds the app: see service/patches.py

# GET /models is a plain route beside the generated POST APIs; each API worker fills the
# catalogue when it starts, from the same cards it validates requests against.
catalogue: dict = {"models": [], "broken": {}}
STEP_ATTEMPTS = 8  # a step lost the race to another replica this often in a row: 503, send it again


def session_store(settings: Settings) -> SessionStore:
    """The store RNNZOO_SESSION_STORE names: this worker's memory, or Redis (shared by workers and replicas)."""
    if settings.session_store == "memory":
        return MemorySessionStore(settings.max_sessions, settings.session_ttl_s)
    from service.redis_sessions import RedisSessionStore  # only a Redis deployment needs redis-py loaded

    return RedisSessionStore(settings.session_store, list(SESSIONS.values()), settings.max_sessions,
                             settings.session_ttl_s)


async def list_models(_: Request) -> JSONResponse:
    return JSONResponse(catalogue)


open_inference = OpenInference()  # the KServe V2 endpoints; the worker attaches its models when loaded
catalogue_app = Starlette(routes=[Route("/models", list_models, methods=["GET"]), *open_inference_routes(open_inference),
                                  *playground_routes()])  # GET /playground: the page, see service/playground


@bentoml.asgi_app(catalogue_app, path="/")
@bentoml.service(name="rnnzoo", workers=api_workers(), traffic={"timeout": 60}, logging={"access": {"enabled": False}},
                 tracing=tracing_config())
class RNNZoo(*ENDPOINTS):
    """Recurrent models over HTTP: validates input, tokenises, and asks the worker for batched scores."""

    def __init__(self) -> None:
        # Every model runs in this process: one-shot requests through batchers, generation streams beside
        # their schedulers, and stateful sessions, whose state is this process's (memory) or Redis's.
        self.settings = Settings.from_environment(tuple(TASKS))
        self.zoo = load_zoo(self.settings.artifacts_dir, task_threads=self.settings.task_threads)
        if self.zoo.broken and self.settings.strict:
            message = (f"{STRICT_ENV}=1 and {len(self.zoo.broken)} model(s) cannot be served, so the server stops: "
                       + "; ".join(f"{name}: {reason}" for name, reason in sorted(self.zoo.broken.items())))
            log.critical(message)
            # A worker that fails here is restarted by BentoML's arbiter forever; stop the arbiter (this
            # worker's parent, the `bentoml serve` process) so the server exits instead.
            os.kill(os.getppid(), signal.SIGTERM)
            raise RuntimeError(message)
        self.defaults = self.zoo.defaults()
        # One thread runs the batched one-shot models: their calls queue rather than compete for the cores.
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="models")
        self.session_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sessions")
        self.batchers, self.session_batchers = {}, {}
        self.sessions = session_store(self.settings)
        self.metrics = ServiceMetrics.shared()
        for endpoints in ENDPOINTS:
            endpoints.prepare(self)
        catalogue["models"] = [p.card.to_dict() for p in self.zoo.predictors.values()]
        catalogue["broken"] = dict(self.zoo.broken)
        open_inference.attach(self.zoo.predictors, self.model_thread)
        # Everything loaded so far lives as long as the process: out of the collector's way, so a full
        # collection does not walk it (full collections were the 70-140 ms stalls; see service/patches.py).
        gc.collect()
        gc.freeze()
        log.info("serving %s; default models %s; sessions in %s", sorted(self.zoo.predictors), self.defaults,
                 self.sessions.name)

    # --- sessions: the state stays in the store between steps; each task's Session subclass owns its step ------
    async def _session(self, session_id: str) -> Session:
        try:
            return await self.sessions.load(session_id)
        except UnknownSession as error:
            raise NotFound(str(error)) from None

    @bentoml.api(route="/sessions/start")
    @unavailable_as_503
    async def start_session(self, model: SessionModel) -> SessionStartResponse:
        """Open a session on a vitals, text-generation, music or speech model: the server keeps its recurrent state,
        so each /sessions/step costs the same however long the history."""
        kinds = [session.describe for session in SESSIONS.values()]
        described = ", ".join(kinds[:-1]) + " and " + kinds[-1] if len(kinds) > 1 else kinds[0]
        predictor = self.resolve(model, tuple(SESSIONS), "models with sessions", default=None,
                                 wrong_task=f", which has no sessions; models with sessions ({described})",
                                 listed=lambda p: SESSIONS[p.card.task].accepts(p))
        kind = SESSIONS[predictor.card.task]
        try:
            session = await self.sessions.start(predictor.name, predictor.card.task, predictor.initial_state(1),
                                                kind, **kind.open(predictor))
        except StoreUnavailable as error:
            raise Unavailable(str(error)) from None
        except SessionLimit as error:
            raise BentoMLException(str(error), error_code=HTTPStatus.TOO_MANY_REQUESTS) from None
        return SessionStartResponse(session_id=session.id, model=session.model, task=session.task,
                                    expires_in_s=self.sessions.ttl_s)

    @bentoml.api(route="/sessions/step")
    @with_step_fields
    @unavailable_as_503
    async def step_session(self, session_id: str, step_id: str | None = None, **fields) -> SessionStepResponse:
        """Add to a session's history and get what the one-shot endpoint gives for the whole history so
        far: vitals sessions take `observations` (the rows since the last step) and answer as /vitals;
        text sessions take `text` and answer with the next-character candidates and, if asked, a sampled
        continuation that the state does not keep; music sessions take `frames` and answer with their NLL,
        the likeliest next frame and, if asked, a continuation; speech sessions take the next chunk of `audio`
        and answer with the digits heard so far. Steps of one session apply one at a time; a step sent again
        with the same `step_id` is not applied twice: it gets the first one's answer."""
        async with self.sessions.locked(session_id):  # first come, first served within this process
            try:
                for _attempt in range(STEP_ATTEMPTS):
                    response = await self._attempt_step(session_id, step_id, fields)
                    if response is not None:
                        return response
            except StoreUnavailable as error:
                raise Unavailable(str(error)) from None
        raise Unavailable(f"session {session_id!r} was stepped elsewhere {STEP_ATTEMPTS} times while this step "
                          "ran; send it again")

    async def _attempt_step(self, session_id: str, step_id: str | None, fields: dict) -> SessionStepResponse | None:
        """Load the session, apply the step (or find its stored answer) and commit it: the answer, or None when
        another replica committed a step of this session first (then the caller tries again from its state)."""
        session = await self._session(session_id)  # ended while this step waited: 404
        if step_id is not None and step_id in session.answers:  # a retry of a step already applied
            return SessionStepResponse.model_validate_json(session.answers[step_id])
        try:
            session.check_fields(fields, [f for task, f in PRIMARY_FIELDS.items() if task != session.task])
            answer = await session.step(self, fields)
        except StepInputError as error:
            raise InvalidArgument(str(error)) from None
        response = SessionStepResponse(session_id=session.id, model=session.model,
                                       **{task: answer if task == session.task else None for task in SESSIONS})
        session.remember(step_id, response.model_dump_json())
        try:
            await self.sessions.commit(session)
        except StepConflict:
            return None
        except UnknownSession as error:  # ended or expired while the step ran
            raise NotFound(str(error)) from None
        return response

    @bentoml.api(route="/sessions/end")
    @unavailable_as_503
    async def end_session(self, session_id: SessionId) -> SessionEndResponse:
        """Close a session and free its state."""
        try:
            await self.sessions.end(session_id)
        except UnknownSession as error:
            raise NotFound(str(error)) from None
        except StoreUnavailable as error:
            raise Unavailable(str(error)) from None
        return SessionEndResponse(session_id=session_id, ended=True)


# Outside the class: BentoML builds the middleware stack from the service object when a worker starts.
RNNZoo.add_asgi_middleware(AdmissionLimit, limit=max_in_progress())  # first: a refused request costs least
RNNZoo.add_asgi_middleware(BodySizeLimit, max_bytes=max_body_bytes())
RNNZoo.add_asgi_middleware(JSONRequests, uploads=tuple(route for endpoints in ENDPOINTS
                                                           for route in endpoints.upload_routes))
