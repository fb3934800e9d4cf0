"""One BentoML service for the zoo, in one process: it validates and tokenises, merges the rows of
concurrent requests into single onnxruntime calls (service.batching), streams generations and keeps
sessions.

    bentoml serve            # from the repository root (bentofile.yaml names RNNZoo)
"""
from __future__ import annotations

import functools
import gc
import json
import logging
import os
import secrets
import signal
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path

import bentoml
import numpy as np
from bentoml.exceptions import BentoMLException, InvalidArgument, NotFound
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from service import patches
from service.batching import Overloaded, RequestBatcher
from service.limits import BodySizeLimit, JSONRequests, max_body_bytes
from service.open_inference import OpenInference, routes as open_inference_routes
from service.playground import routes as playground_routes
from service.generation import CapacityError, GenerationMetrics, SamplingParams, StepScheduler
from service.schemas import (ClippedValue, Closes, ContinuationTokens, ForecastDay, ForecastModel,
                             GenerateResponse, GenerationModel, Horizon, MaxNewTokens, ModelName,
                             NextCharacter, Observations, Prompt, RecordText, Seed, SentimentPrediction,
                             SentimentResponse, SentimentTexts, SessionEndResponse, SessionId, SessionModel,
                             SessionObservations, SessionStartResponse, SessionStepResponse, SessionText,
                             StockForecastResponse, Temperature, TextStepResult, TopK, TopP,
                             VitalsModel, VitalsResponse)
from service.sessions import (DEFAULT_MAX_SESSIONS, DEFAULT_TTL_S, Session, SessionLimit, SessionStore, StepBatcher,
                              UnknownSession, top_characters)
from zoo.tasks.forecasting.features import check_closes, forecast_days, ForecastInputError
from zoo.artifacts import ARTIFACTS_DIR
from zoo.runtime import default_model, load_zoo, Zoo
from zoo.tasks.generation.predictor import GenerationPredictor
from zoo.tasks.sentiment.predictor import SentimentPredictor
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import features as vitals_features, parse_observations, parse_record_text, StayFeatures, VITALS, VitalsInputError
from zoo.task import TextError

patches.apply()  # before BentoML builds the app: see service/patches.py

ARTIFACTS_ENV = "RNNZOO_ARTIFACTS"  # another zoo directory (tests use it to serve broken artifacts)
log = logging.getLogger("bentoml.rnnzoo")  # under bentoml so `bentoml serve` shows it

# Rows merged into one onnxruntime call, and rows that may wait for a model before requests get 503.
# Past about 128 texts a call gains little per row on this CPU; the queue bounds the wait at roughly a
# second of work at peak throughput instead of letting latency grow without limit.
MAX_BATCH_TEXTS, MAX_QUEUED_TEXTS = 256, 4096
MAX_BATCH_WINDOWS, MAX_QUEUED_WINDOWS = 512, 8192  # stock forecasts (one price window each)
MAX_BATCH_STAYS, MAX_QUEUED_STAYS = 128, 1024  # ICU stays (up to 48 hours each)
STRICT_ENV = "RNNZOO_STRICT"  # "1": refuse to start while any model in the zoo folder is broken
BATCHING_ENV = "RNNZOO_BATCHING"  # "on" (default) or "off": one onnxruntime call per request, for benchmarks

GENERATION_THREADS_ENV = "RNNZOO_GENERATION_THREADS"  # intra-op threads of the generation sessions
MAX_STREAMS_PER_MODEL = 64  # live generations per model; one more gets 429
MAX_GENERATION_SECONDS = 120.0  # wall-clock cap on one generation
SESSION_TTL_ENV = "RNNZOO_SESSION_TTL_S"  # idle seconds before a session is evicted
MAX_SESSIONS_ENV = "RNNZOO_MAX_SESSIONS"  # live sessions; one more gets 429
SESSION_TASKS = ("vitals", "generation")


def session_limits() -> tuple[int, float]:
    """(max sessions, TTL seconds) from the environment; a bad value stops the service at start-up."""
    count, ttl = os.environ.get(MAX_SESSIONS_ENV, str(DEFAULT_MAX_SESSIONS)), os.environ.get(SESSION_TTL_ENV, "")
    if not count.isdigit() or not 1 <= int(count) <= 1_000_000:
        raise ValueError(f"{MAX_SESSIONS_ENV}={count!r}: expected a whole number from 1 to 1000000")
    try:
        seconds = float(ttl) if ttl else DEFAULT_TTL_S
    except ValueError:
        seconds = float("nan")
    if not 0.1 <= seconds <= 86400:
        raise ValueError(f"{SESSION_TTL_ENV}={ttl!r}: expected seconds from 0.1 to 86400")
    return int(count), seconds


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


def strict_mode() -> bool:
    value = os.environ.get(STRICT_ENV, "0")
    if value not in ("0", "1"):
        raise ValueError(f"{STRICT_ENV}={value!r}: expected 0 or 1")
    return value == "1"


def batching_enabled() -> bool:
    value = os.environ.get(BATCHING_ENV, "on")
    if value not in ("on", "off"):
        raise ValueError(f"{BATCHING_ENV}={value!r}: expected on or off")
    return value == "on"


def artifacts_dir() -> Path:
    return Path(os.environ.get(ARTIFACTS_ENV) or ARTIFACTS_DIR)


def generation_threads() -> int:
    """1 by default (see README: Configuration); more pays off only for many streams on idle cores."""
    value = os.environ.get(GENERATION_THREADS_ENV, "1")
    cores = os.cpu_count() or 1
    if not value.isdigit() or not 1 <= int(value) <= cores:
        raise ValueError(f"{GENERATION_THREADS_ENV}={value!r}: expected a whole number from 1 to {cores} "
                         "(this machine's cores)")
    return int(value)


def assess_stays(monitor: VitalsPredictor, stays: list[np.ndarray]) -> list[tuple[list[float], np.ndarray]]:
    """Per stay (hours, F): its risk after each hour and the 5 vitals' predicted change after the last.
    All run as one onnxruntime call, right-padded to the longest: the network reads forwards in time, so
    padding after a stay's last hour cannot change its outputs."""
    hours = [len(stay) for stay in stays]
    batch = np.zeros((len(stays), max(hours), stays[0].shape[1]), dtype=np.float32)  # (B, T, F)
    for i, stay in enumerate(stays):
        batch[i, : hours[i]] = stay
    risk, change = monitor.run(batch)  # (B, T), (B, T, 5)
    return [(risk[i, : hours[i]].tolist(), change[i, hours[i] - 1]) for i in range(len(stays))]


# GET /models is a plain route beside the generated POST APIs; each API worker fills the
# catalogue when it starts, from the same cards it validates requests against.
catalogue: dict = {"models": [], "broken": {}}


async def list_models(_: Request) -> JSONResponse:
    return JSONResponse(catalogue)


open_inference = OpenInference()  # the KServe V2 endpoints; the worker attaches its models when loaded
catalogue_app = Starlette(routes=[Route("/models", list_models, methods=["GET"]), *open_inference_routes(open_inference),
                                  *playground_routes()])  # GET /playground: the page, see service/playground


@bentoml.asgi_app(catalogue_app, path="/")
@bentoml.service(name="rnnzoo", workers=1, traffic={"timeout": 60}, logging={"access": {"enabled": False}})
class RNNZoo:
    """Recurrent models over HTTP: validates input, tokenises, and asks the worker for batched scores."""

    def __init__(self) -> None:
        # Every model runs in this process: one-shot requests through batchers, generation streams beside
        # their schedulers, and stateful sessions (vitals and text), whose state has this process as its owner.
        self.zoo: Zoo = load_zoo(artifacts_dir(), task_threads={"generation": generation_threads()})
        # One thread runs the batched one-shot models: their calls queue rather than compete for the cores.
        self.model_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="models")
        self.batchers: dict[str, RequestBatcher] = {}
        self.merge_requests = batching_enabled()
        self.sessions = SessionStore(*session_limits())
        self.session_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sessions")
        self.session_batchers: dict[str, StepBatcher] = {}
        # Prompts run here; each model's scheduler steps its streams on a thread of its own.
        self.generation_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="prompts")
        self.schedulers: dict[str, StepScheduler] = {}
        self.generation_metrics = GenerationMetrics.shared()
        if self.zoo.broken and strict_mode():
            message = (f"{STRICT_ENV}=1 and {len(self.zoo.broken)} model(s) cannot be served, so the server stops: "
                       + "; ".join(f"{name}: {reason}" for name, reason in sorted(self.zoo.broken.items())))
            log.critical(message)
            # A worker that fails here is restarted by BentoML's arbiter forever; stop the arbiter (this
            # worker's parent, the `bentoml serve` process) so the server exits instead.
            os.kill(os.getppid(), signal.SIGTERM)
            raise RuntimeError(message)
        catalogue["models"] = [p.card.to_dict() for p in self.zoo.predictors.values()]
        catalogue["broken"] = dict(self.zoo.broken)
        open_inference.attach(self.zoo.predictors, self.model_thread)
        cards = [predictor.card for predictor in self.zoo.predictors.values()]
        self.default_sentiment = default_model(cards, "sentiment")
        self.default_generation = default_model(cards, "generation")
        self.default_vitals = default_model(cards, "vitals")
        self.default_forecasting = default_model(cards, "forecasting")
        # Everything loaded so far lives as long as the process: out of the collector's way, so a full
        # collection does not walk it (full collections were the 70-140 ms stalls; see service/patches.py).
        gc.collect()
        gc.freeze()
        log.info("serving %s; default sentiment model %s, generation model %s, forecasting model %s, vitals "
                 "model %s", sorted(self.zoo.predictors), self.default_sentiment, self.default_generation,
                 self.default_forecasting, self.default_vitals)

    def _versioned(self, name: str) -> str:
        """`name@version` -> name, if that version is the one loaded (a card's version is part of its identity)."""
        name, _, version = name.partition("@")
        predictor = self.zoo.predictors.get(name)
        if version and predictor is not None and version != predictor.card.version:
            raise NotFound(f"model {name!r} is served at version {predictor.card.version!r}, not {version!r}; ask "
                           f"for {name}@{predictor.card.version} or {name}")
        return name

    def _model(self, task: str, name: str | None, default: str | None) -> SentimentPredictor | GenerationPredictor:
        of_task = self.zoo.of_task(task)
        if name is not None:
            name = self._versioned(name)
        if name is None:
            if default is None:
                raise NotFound(f"no {task} model is loaded; models: {sorted(self.zoo.predictors)}")
            return of_task[default]
        if name in self.zoo.broken:  # in the zoo folder, but refused at start-up: say why, not "unknown"
            raise Unavailable(f"model {name!r} is not served: {self.zoo.broken[name]}; {task} models: "
                                     f"{', '.join(sorted(of_task))}")
        if name not in self.zoo.predictors:
            raise NotFound(f"unknown model {name!r}; {task} models: {', '.join(sorted(of_task))}")
        if name not in of_task:
            other = self.zoo.predictors[name].card.task
            raise InvalidArgument(f"model {name!r} is a {other} model; {task} models: {', '.join(sorted(of_task))}")
        return of_task[name]

    def _request_batcher(self, predictor) -> RequestBatcher:
        """The model's batcher, made on first use; its run function takes rows, returns one result per row."""
        if predictor.name not in self.batchers:
            task = predictor.card.task
            if task == "sentiment":
                run, max_batch, max_queued = predictor.probabilities_from_ids, MAX_BATCH_TEXTS, MAX_QUEUED_TEXTS
            elif task == "forecasting":
                run, max_batch, max_queued = (lambda windows: predictor.log_return_quantiles(np.stack(windows)),
                                              MAX_BATCH_WINDOWS, MAX_QUEUED_WINDOWS)
            else:
                run, max_batch, max_queued = (lambda stays: assess_stays(predictor, stays), MAX_BATCH_STAYS,
                                              MAX_QUEUED_STAYS)
            self.batchers[predictor.name] = RequestBatcher(
                run, self.model_thread, max_batch, max_queued, merge=self.merge_requests,
                observe=self.generation_metrics.request_batch.labels(task, predictor.name).observe)
        return self.batchers[predictor.name]

    async def _predict(self, predictor, rows: list) -> list:
        try:
            return await self._request_batcher(predictor).submit(rows)
        except Overloaded as error:
            raise Unavailable(str(error)) from None

    @bentoml.api(route="/sentiment")
    @unavailable_as_503
    async def sentiment(self, texts: SentimentTexts, model: ModelName = None) -> SentimentResponse:
        """Positive/negative sentiment of each text, in input order."""
        predictor = self._model("sentiment", model, self.default_sentiment)
        try:
            token_ids = predictor.tokenizer.encode(texts)
        except TextError as error:
            raise InvalidArgument(str(error)) from None
        probabilities = np.array(await self._predict(predictor, token_ids))  # (N, C)
        labels = [predictor.labels[i] for i in probabilities.argmax(axis=1)]
        positive = probabilities[:, predictor.labels.index("positive")].tolist()
        return SentimentResponse(model=predictor.name, predictions=[
            SentimentPrediction(label=label, positive=p) for label, p in zip(labels, positive)])

    async def _start_generation(self, prompt: str, max_new_tokens: int, temperature: float, top_k: int | None,
                                top_p: float | None, seed: int | None, model: str | None):
        generator = self._model("generation", model, self.default_generation)
        if len(prompt) > generator.card.preprocessing.max_chars:
            raise InvalidArgument(f"prompt has {len(prompt)} characters; the maximum is "
                                  f"{generator.card.preprocessing.max_chars}")
        try:
            prompt_ids = generator.vocabulary.encode(prompt)
        except TextError as error:
            raise InvalidArgument(f"prompt: {error}") from None
        scheduler = self._scheduler(generator)
        params = SamplingParams(max_new_tokens, temperature, top_k, top_p,
                                seed if seed is not None else secrets.randbits(63))
        try:
            stream = await scheduler.start(prompt_ids, params)
        except CapacityError as error:
            raise BentoMLException(str(error), error_code=HTTPStatus.TOO_MANY_REQUESTS) from None
        return generator, scheduler, stream

    def _scheduler(self, generator: GenerationPredictor) -> StepScheduler:
        if generator.name not in self.schedulers:
            self.schedulers[generator.name] = StepScheduler(generator, self.generation_thread, MAX_STREAMS_PER_MODEL,
                                                            MAX_GENERATION_SECONDS, self.generation_metrics)
        return self.schedulers[generator.name]

    @bentoml.api(route="/generate")
    @unavailable_as_503
    async def generate(self, prompt: Prompt, max_new_tokens: MaxNewTokens = 200, temperature: Temperature = 0.8,
                       top_k: TopK = 40, top_p: TopP = None, seed: Seed = None,
                       model: GenerationModel = None) -> GenerateResponse:
        """Continue the prompt, character by character; with a seed the same body gives the same text."""
        generator, scheduler, stream = await self._start_generation(prompt, max_new_tokens, temperature, top_k,
                                                                    top_p, seed, model)
        text = "".join([characters async for characters in scheduler.characters(stream)])
        return GenerateResponse(model=generator.name, text=text, tokens_generated=len(text),
                                finish_reason=stream.finish_reason)

    @bentoml.api(route="/generate_stream")
    @unavailable_as_503
    async def generate_stream(self, prompt: Prompt, max_new_tokens: MaxNewTokens = 200,
                              temperature: Temperature = 0.8, top_k: TopK = 40, top_p: TopP = None,
                              seed: Seed = None, model: GenerationModel = None) -> str:
        """The same generation as /generate, as server-sent events: one `data: {"token": "c"}` event per
        character, then an `event: done` whose data carries the model, the text and the count."""
        # Validation and admission happen before the response starts, so errors keep their 4xx status.
        generator, scheduler, stream = await self._start_generation(prompt, max_new_tokens, temperature, top_k,
                                                                    top_p, seed, model)

        async def events():
            text = []
            async for characters in scheduler.characters(stream):  # all that is ready: one write, an event each
                text.append(characters)
                yield "".join(f"data: {json.dumps({'token': character})}\n\n" for character in characters)
            text = "".join(text)
            done = {"model": generator.name, "text": text, "tokens_generated": len(text),
                    "finish_reason": stream.finish_reason}
            yield f"event: done\ndata: {json.dumps(done)}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    @bentoml.api(route="/stock_forecast")
    @unavailable_as_503
    async def stock_forecast(self, closes: Closes, horizon: Horizon = 5,
                             model: ForecastModel = None) -> StockForecastResponse:
        """Quantiles (10%, 50%, 90%) of the close 1..horizon trading days after the last one sent."""
        forecaster = self._model("forecasting", model, self.default_forecasting)
        if horizon > forecaster.horizons:
            raise InvalidArgument(f"horizon {horizon} is beyond {forecaster.name}'s {forecaster.horizons} days; "
                                  f"allowed: 1 to {forecaster.horizons}")
        try:
            values = check_closes(closes, forecaster.window, forecaster.max_closes)
        except ForecastInputError as error:
            raise InvalidArgument(str(error)) from None
        (quantiles,) = await self._predict(forecaster, [values[-(forecaster.window + 1):]])  # (H, Q) log returns
        days = forecast_days(float(values[-1]), quantiles, forecaster.quantiles, horizon)
        return StockForecastResponse(model=forecaster.name, last_close=float(values[-1]),
                                     forecast=[ForecastDay(**day) for day in days])

    @bentoml.api(route="/vitals")
    @unavailable_as_503
    async def vitals(self, observations: Observations = None, record: RecordText = None,
                     model: VitalsModel = None) -> VitalsResponse:
        """Mortality risk after every observed hour and the next hour's vitals, from a PhysioNet-2012-style
        record: `observations` as JSON rows, or the record file's text as `record`."""
        monitor = self._model("vitals", model, self.default_vitals)
        if (observations is None) == (record is None):
            raise InvalidArgument("send exactly one of `observations` (JSON rows) or `record` (the record file's "
                                  "Time,Parameter,Value text)")
        try:
            stay = (parse_record_text(record) if record is not None
                    else parse_observations([(o.time, o.parameter, o.value) for o in observations]))
        except VitalsInputError as error:
            raise InvalidArgument(str(error)) from None
        if not stay.rows:
            raise InvalidArgument("no time series observations (only descriptors such as Age); send at least one "
                                  "measurement such as HR")
        hours = stay.hours_observed
        ((risk_by_hour, change),) = await self._predict(monitor, [vitals_features(stay, monitor.statistics, hours)])
        next_hour = monitor.next_hour(stay, change)
        return VitalsResponse(
            model=monitor.name, hours_observed=hours, mortality_risk=risk_by_hour[-1], risk_by_hour=risk_by_hour,
            next_hour={vital: round(float(value), 3) for vital, value in zip(VITALS, next_hour)},
            clipped=[ClippedValue(time=c.time, parameter=c.parameter, value=c.value, clipped_to=c.clipped_to)
                     for c in stay.clipped])

    # --- sessions: the state stays here between steps ---------------------------------------------------
    def _session_model(self, name: str) -> GenerationPredictor | VitalsPredictor:
        name = self._versioned(name)
        usable = sorted(n for n, p in self.zoo.predictors.items() if p.card.task in SESSION_TASKS)
        if name not in self.zoo.predictors:
            raise NotFound(f"unknown model {name!r}; models with sessions: {', '.join(usable)}")
        predictor = self.zoo.predictors[name]
        if predictor.card.task not in SESSION_TASKS:
            raise InvalidArgument(f"model {name!r} is a {predictor.card.task} model, which has no sessions; models "
                                  f"with sessions (vitals and text generation): {', '.join(usable)}")
        return predictor

    def _session(self, session_id: str) -> Session:
        try:
            return self.sessions.get(session_id)
        except UnknownSession as error:
            raise NotFound(str(error)) from None

    def _batcher(self, predictor: GenerationPredictor | VitalsPredictor) -> StepBatcher:
        if predictor.name not in self.session_batchers:
            if isinstance(predictor, GenerationPredictor):
                def run(tokens, state):  # (B, T) -> [(B, T, V)], state
                    logits, new_state = predictor.step(tokens, state)
                    return [logits], new_state
            else:
                def run(features, state):  # (B, T, F) -> [(B, T), (B, T, 5)], state
                    risk, change, new_state = predictor.step(features, state)
                    return [risk, change], new_state
            self.session_batchers[predictor.name] = StepBatcher(
                run, self.session_thread, observe=self.generation_metrics.session_batch.labels(predictor.name).observe)
        return self.session_batchers[predictor.name]

    @bentoml.api(route="/sessions/start")
    @unavailable_as_503
    async def start_session(self, model: SessionModel) -> SessionStartResponse:
        """Open a session on a vitals or text-generation model: the server keeps its recurrent state, so
        each /sessions/step costs the same however long the history."""
        predictor = self._session_model(model)
        fields = {"stay": StayFeatures(predictor.statistics)} if predictor.card.task == "vitals" else {}
        try:
            session = self.sessions.start(predictor.name, predictor.card.task, predictor.initial_state(1), **fields)
        except SessionLimit as error:
            raise BentoMLException(str(error), error_code=HTTPStatus.TOO_MANY_REQUESTS) from None
        return SessionStartResponse(session_id=session.id, model=session.model, task=session.task,
                                    expires_in_s=self.sessions.ttl_s)

    @bentoml.api(route="/sessions/step")
    @unavailable_as_503
    async def step_session(self, session_id: SessionId, observations: SessionObservations = None,
                           text: SessionText = None, max_new_tokens: ContinuationTokens = 0,
                           temperature: Temperature = 0.8, top_k: TopK = 40, top_p: TopP = None,
                           seed: Seed = None) -> SessionStepResponse:
        """Add to a session's history and get what the one-shot endpoint gives for the whole history so
        far: vitals sessions take `observations` (the rows since the last step) and answer as /vitals;
        text sessions take `text` and answer with the next-character candidates and, if asked, a sampled
        continuation that the state does not keep. Steps of one session apply in arrival order."""
        session = self._session(session_id)
        async with session.lock:  # first come, first served: one step at a time, in arrival order
            if self.sessions.sessions.get(session.id) is not session:  # ended while this step waited
                raise NotFound(f"session {session_id!r} ended while this step waited; start a new one")
            predictor = self.zoo.predictors[session.model]
            try:
                if session.task == "vitals":
                    if observations is None or text is not None:
                        raise InvalidArgument(f"session {session_id!r} is on the vitals model {session.model}: send "
                                              "`observations` (the rows since the last step), not `text`")
                    vitals = await self._step_vitals(session, predictor, observations)
                    return SessionStepResponse(session_id=session.id, model=session.model, vitals=vitals,
                                               generation=None)
                if observations is not None or text is None:
                    raise InvalidArgument(f"session {session_id!r} is on the text model {session.model}: send `text` "
                                          "(may be empty), not `observations`")
                params = SamplingParams(max_new_tokens, temperature, top_k, top_p,
                                        seed if seed is not None else secrets.randbits(63))
                generation = await self._step_text(session, predictor, text, params)
                return SessionStepResponse(session_id=session.id, model=session.model, vitals=None,
                                           generation=generation)
            finally:
                session.last_used = self.sessions.clock()  # idle time counts from the end of a step

    def _failed_step(self, session: Session) -> Unavailable:
        """A model call failed half-way through a step: the session's history and state may disagree now,
        so it ends (logged with the cause) and the client hears so."""
        log.exception("session step failed on %s", session.model)
        self.sessions.discard(session.id)
        return Unavailable("the model failed on this step; the session has ended, start a new one")

    async def _step_vitals(self, session: Session, monitor: VitalsPredictor, observations) -> VitalsResponse | None:
        try:
            closed = session.stay.add([(o.time, o.parameter, o.value) for o in observations])  # (k, F)
        except VitalsInputError as error:
            raise InvalidArgument(str(error)) from None  # nothing was changed
        if not session.stay.rows:  # descriptors only so far: kept, nothing to assess yet
            return None
        batcher = self._batcher(monitor)
        try:
            if len(closed):  # closed hours go into the state once, for good
                (risk, _), session.state = await batcher.submit(closed, session.state)
                session.risks.extend(risk.tolist())
            open_row, carried = session.stay.open_hour()
            (risk, change), _ = await batcher.submit(open_row, session.state)  # the open hour is not kept
        except Exception:
            raise self._failed_step(session) from None
        risk_by_hour = session.risks + [float(risk[0])]
        next_hour = monitor.expected_vitals(carried, change[0])
        return VitalsResponse(
            model=monitor.name, hours_observed=session.stay.hours_observed, mortality_risk=risk_by_hour[-1],
            risk_by_hour=risk_by_hour, next_hour={v: round(float(x), 3) for v, x in zip(VITALS, next_hour)},
            clipped=[ClippedValue(time=c.time, parameter=c.parameter, value=c.value, clipped_to=c.clipped_to)
                     for c in session.stay.clipped])

    async def _step_text(self, session: Session, generator: GenerationPredictor, text: str,
                         params: SamplingParams) -> TextStepResult:
        try:
            ids = generator.vocabulary.encode(text)
        except TextError as error:
            raise InvalidArgument(f"text: {error}") from None
        batcher = self._batcher(generator)
        try:
            if len(ids):
                (logits,), session.state = await batcher.submit(ids, session.state)
                session.logits, session.characters = logits[-1], session.characters + len(ids)
            logits, state = session.logits, session.state
            if logits is None:  # nothing sent yet: as /generate with an empty prompt, after a line break
                (start,), state = await batcher.submit(np.array([generator.start_id]), session.state)
                logits = start[-1]
        except Exception:
            raise self._failed_step(session) from None
        continuation = finish_reason = None
        if params.max_new_tokens:
            scheduler = self._scheduler(generator)
            try:
                stream = scheduler.start_after(logits, state, params)
            except CapacityError as error:
                raise BentoMLException(str(error), error_code=HTTPStatus.TOO_MANY_REQUESTS) from None
            continuation = "".join([c async for c in scheduler.characters(stream)])
            finish_reason = stream.finish_reason
        return TextStepResult(
            characters_seen=session.characters,
            next_characters=[NextCharacter(character=c, probability=p)
                             for c, p in top_characters(logits, generator.vocabulary.characters)],
            continuation=continuation, finish_reason=finish_reason)

    @bentoml.api(route="/sessions/end")
    @unavailable_as_503
    async def end_session(self, session_id: SessionId) -> SessionEndResponse:
        """Close a session and free its state."""
        try:
            self.sessions.end(session_id)
        except UnknownSession as error:
            raise NotFound(str(error)) from None
        return SessionEndResponse(session_id=session_id, ended=True)


# Outside the class: BentoML builds the middleware stack from the service object when a worker starts.
RNNZoo.add_asgi_middleware(BodySizeLimit, max_bytes=max_body_bytes())
RNNZoo.add_asgi_middleware(JSONRequests)
