"""The Open Inference Protocol (KServe V2) REST endpoints over every loaded zoo model, so clients written for
Triton or KServe (e.g. `tritonclient[http]`) can call the zoo with raw tensors: token ids, feature windows,
recurrent state.

    GET  /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
    POST /v2/models/{name}/infer     {"inputs": [{"name", "shape", "datatype", "data"}], "outputs": [{"name"}]?}

Tensor data travels as JSON (the protocol's core); the binary-data extension is not implemented, so
tritonclient users pass `binary_data=False`. Inputs and outputs are the ONNX graph's, listed on each
model's card and by the metadata endpoint. A name may carry a version, `name/versions/{version}/...`,
which must equal the card's. A model with a second graph (a translator's encoder) serves it as its own model,
`{name}.{role}` (`multi30k-de-en-gru.encoder`): run it, then the main graph (the decoder step) per subword.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

# ONNX tensor types <-> the protocol's datatypes
DATATYPES = {"tensor(float)": "FP32", "tensor(int64)": "INT64", "tensor(int32)": "INT32", "tensor(double)": "FP64"}
NUMPY = {"FP32": np.float32, "INT64": np.int64, "INT32": np.int32, "FP64": np.float64}
FROM_NUMPY = {np.dtype(kind): name for name, kind in NUMPY.items()}


class ProtocolError(ValueError):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class GraphModel:
    """A model's second graph as the protocol sees a model: a name, the card (for its version), a session."""
    name: str
    card: object
    session: object


class OpenInference:
    """Filled by the service when its models are loaded (`attach`); until then every model is not ready."""

    def __init__(self):
        self.predictors: dict = {}
        self.executor: ThreadPoolExecutor | None = None

    def attach(self, predictors: dict, executor: ThreadPoolExecutor) -> None:
        graphs = {f"{name}.{role}": GraphModel(f"{name}.{role}", p.card, session)
                  for name, p in predictors.items() for role, session in getattr(p, "graphs", {}).items()}
        self.predictors, self.executor = {**predictors, **graphs}, executor

    def _model(self, request: Request):
        name = request.path_params["name"]
        predictor = self.predictors.get(name)
        if predictor is None:
            raise ProtocolError(f"unknown model {name!r}; models: {', '.join(sorted(self.predictors))}", 404)
        version = request.path_params.get("version")
        if version is not None and version != predictor.card.version:
            raise ProtocolError(f"model {name!r} has version {predictor.card.version!r}, not {version!r}", 404)
        return predictor

    @staticmethod
    def _tensors(values) -> list[dict]:
        return [{"name": v.name, "datatype": DATATYPES.get(v.type, v.type),
                 "shape": [d if isinstance(d, int) else -1 for d in v.shape]} for v in values]

    async def live(self, _: Request) -> JSONResponse:
        return JSONResponse({"live": True})

    async def ready(self, _: Request) -> JSONResponse:
        ready = bool(self.predictors)
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    async def metadata(self, request: Request) -> JSONResponse:
        predictor = self._model(request)
        return JSONResponse({"name": predictor.name, "versions": [predictor.card.version], "platform": "onnxruntime_onnx",
                             "inputs": self._tensors(predictor.session.get_inputs()),
                             "outputs": self._tensors(predictor.session.get_outputs())})

    async def model_ready(self, request: Request) -> JSONResponse:
        predictor = self._model(request)
        return JSONResponse({"name": predictor.name, "ready": True})

    def _feeds(self, predictor, body) -> dict[str, np.ndarray]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
            raise ProtocolError('the body must be {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
        expected = {v.name: v for v in predictor.session.get_inputs()}
        feeds = {}
        for index, tensor in enumerate(body["inputs"]):
            if not isinstance(tensor, dict) or not {"name", "shape", "datatype", "data"} <= set(tensor):
                raise ProtocolError(f"inputs[{index}] needs name, shape, datatype and data")
            name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
            if name not in expected:
                raise ProtocolError(f"inputs[{index}]: {predictor.name} has no input {name!r}; inputs: "
                                    f"{', '.join(expected)}")
            wanted = DATATYPES.get(expected[name].type)
            if datatype != wanted:
                raise ProtocolError(f"input {name!r} must be {wanted}, not {datatype!r}")
            if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
                raise ProtocolError(f"input {name!r}: shape must be a list of non-negative integers")
            if len(shape) != len(expected[name].shape):
                raise ProtocolError(f"input {name!r} has {len(expected[name].shape)} dimensions "
                                    f"{expected[name].shape}, not {len(shape)}")
            try:
                values = np.asarray(tensor["data"], dtype=NUMPY[datatype]).reshape(-1)
            except (TypeError, ValueError, OverflowError):
                raise ProtocolError(f"input {name!r}: data must be numbers of type {datatype}") from None
            if values.size != int(np.prod(shape)):
                raise ProtocolError(f"input {name!r}: {values.size} values for shape {shape}")
            if not np.all(np.isfinite(values)):
                raise ProtocolError(f"input {name!r}: values must be finite")
            feeds[name] = values.reshape(shape)
        missing = set(expected) - set(feeds)
        if missing:
            raise ProtocolError(f"{predictor.name} also needs inputs {sorted(missing)}")
        return feeds

    async def infer(self, request: Request) -> JSONResponse:
        predictor = self._model(request)
        try:
            body = await request.json()
        except ValueError:
            raise ProtocolError("the body is not JSON") from None
        feeds = self._feeds(predictor, body)
        names = [v.name for v in predictor.session.get_outputs()]
        asked = [o.get("name") for o in body.get("outputs") or [] if isinstance(o, dict)]
        unknown = [name for name in asked if name not in names]
        if unknown:
            raise ProtocolError(f"{predictor.name} has no outputs {unknown}; outputs: {', '.join(names)}")
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self.executor, predictor.session.run, asked or names, feeds)
        except Exception as error:  # onnxruntime's own types: a shape the graph cannot take, an id out of range
            raise ProtocolError(f"the model refused these tensors: {str(error)[:500]}") from None
        answer = {"model_name": predictor.name, "model_version": predictor.card.version, "outputs": [
            {"name": name, "datatype": FROM_NUMPY[r.dtype],
             "shape": list(r.shape), "data": r.reshape(-1).tolist()} for name, r in zip(asked or names, results)]}
        if isinstance(body.get("id"), str):
            answer["id"] = body["id"]
        return JSONResponse(answer)


def protocol_errors(handler):
    async def answer(request: Request) -> JSONResponse:
        try:
            return await handler(request)
        except ProtocolError as error:
            return JSONResponse({"error": str(error)}, status_code=error.status)
    return answer


def routes(endpoints: OpenInference) -> list[Route]:
    model = "/v2/models/{name}"
    versioned = "/v2/models/{name}/versions/{version}"
    return [
        Route("/v2/health/live", protocol_errors(endpoints.live), methods=["GET"]),
        Route("/v2/health/ready", protocol_errors(endpoints.ready), methods=["GET"]),
        *(Route(prefix, protocol_errors(endpoints.metadata), methods=["GET"]) for prefix in (model, versioned)),
        *(Route(f"{prefix}/ready", protocol_errors(endpoints.model_ready), methods=["GET"])
          for prefix in (model, versioned)),
        *(Route(f"{prefix}/infer", protocol_errors(endpoints.infer), methods=["POST"]) for prefix in (model, versioned)),
    ]
