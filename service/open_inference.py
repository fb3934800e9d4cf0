"""The Open Inference Protocol (KServe V2) REST endpoints over every loaded zoo model, so clients written for
Triton or KServe (e.g. `tritonclient[http]`) can call the zoo with raw tensors: token ids, feature windows,
recurrent state.

    GET  /v2/health/live, /v2/health/ready, /v2/models/{name}, /v2/models/{name}/ready
    POST /v2/models/{name}/infer     {"inputs": [{"name", "shape", "datatype", "data"}], "outputs": [{"name"}]?}

Tensor data travels as JSON (the protocol's core) or as raw bytes after the JSON (Triton's binary tensor data
extension, what tritonclient and perf_analyzer send by default): the `Inference-Header-Content-Length` header
says where the JSON ends; an input with `"parameters": {"binary_data_size": n}` takes the next n bytes,
little-endian, row-major; outputs asked for with `"parameters": {"binary_data": true}` (or all of them, with
the request's `"parameters": {"binary_data_output": true}`) come back the same way. Inputs and outputs are the
ONNX graph's, listed on each
model's card and by the metadata endpoint. A name may carry a version, `name/versions/{version}/...`,
which must equal the card's. A model with a second graph (a translator's encoder) serves it as its own model,
`{name}.{role}` (`multi30k-de-en-gru.encoder`): run it, then the main graph (the decoder step) per subword.
"""
from __future__ import annotations

import asyncio
import json
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HEADER_LENGTH = "Inference-Header-Content-Length"
MAX_ELEMENTS = 64 * 1024 * 1024  # values in one input tensor (the body-size cap usually refuses first)  # the binary extension: bytes of JSON before the tensors

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

    def _feeds(self, predictor, body, binary: bytes = b"") -> dict[str, np.ndarray]:
        """The request's input tensors by name; `binary` holds the bytes after the JSON, taken in input order."""
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
            raise ProtocolError('the body must be {"inputs": [{"name", "shape", "datatype", "data"}, ...]}')
        expected = {v.name: v for v in predictor.session.get_inputs()}
        feeds, offset = {}, 0
        for index, tensor in enumerate(body["inputs"]):
            if not isinstance(tensor, dict) or not {"name", "shape", "datatype"} <= set(tensor):
                raise ProtocolError(f"inputs[{index}] needs name, shape, datatype and data (or binary_data_size)")
            name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
            if not isinstance(name, str):
                raise ProtocolError(f"inputs[{index}]: name must be a string, not {name!r}"[:300])
            parameters = tensor.get("parameters") or {}
            if not isinstance(parameters, dict):
                raise ProtocolError(f"input {name!r}: parameters must be an object")
            if any(key.startswith("shared_memory") for key in parameters):
                raise ProtocolError(f"input {name!r}: shared memory is not supported; send the data in the body")
            if name not in expected:
                raise ProtocolError(f"inputs[{index}]: {predictor.name} has no input {name!r}; inputs: "
                                    f"{', '.join(expected)}")
            wanted = DATATYPES.get(expected[name].type)
            if datatype != wanted:
                raise ProtocolError(f"input {name!r} must be {wanted}, not {datatype!r}")
            if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
                raise ProtocolError(f"input {name!r}: shape must be a list of non-negative integers")
            if len(shape) != len(expected[name].shape):
                raise ProtocolError(f"input {name!r} has {len(expected[name].shape)} dimensions "
                                    f"{expected[name].shape}, not {len(shape)}")
            count = math.prod(shape)  # Python integers: no int64 wrap-around for absurd shapes
            if count > MAX_ELEMENTS:
                raise ProtocolError(f"input {name!r}: shape {shape} holds {count:,} values; at most {MAX_ELEMENTS:,} "
                                    "per tensor")
            if "binary_data_size" in parameters:
                values, offset = self._binary_input(name, parameters["binary_data_size"], datatype, count, binary,
                                                    offset, "data" in tensor)
            elif "data" not in tensor:
                raise ProtocolError(f"input {name!r} has neither data nor parameters.binary_data_size")
            else:
                try:
                    values = np.asarray(tensor["data"], dtype=NUMPY[datatype]).reshape(-1)
                except (TypeError, ValueError, OverflowError):
                    raise ProtocolError(f"input {name!r}: data must be numbers of type {datatype}") from None
            if values.size != count:
                raise ProtocolError(f"input {name!r}: {values.size} values for shape {shape}")
            if not np.all(np.isfinite(values)):
                raise ProtocolError(f"input {name!r}: values must be finite")
            feeds[name] = values.reshape(shape)
        if offset != len(binary):
            raise ProtocolError(f"the body has {len(binary) - offset} bytes after the JSON that no input's "
                                "binary_data_size accounts for")
        missing = set(expected) - set(feeds)
        if missing:
            raise ProtocolError(f"{predictor.name} also needs inputs {sorted(missing)}")
        return feeds

    @staticmethod
    def _binary_input(name: str, size, datatype: str, count: int, binary: bytes, offset: int,
                      has_data: bool) -> tuple[np.ndarray, int]:
        """(values, the offset after them): the input's bytes from the binary part of the body."""
        if has_data:
            raise ProtocolError(f"input {name!r} has both data and binary_data_size; send one")
        itemsize = np.dtype(NUMPY[datatype]).itemsize
        if isinstance(size, bool) or not isinstance(size, int) or size != count * itemsize:
            raise ProtocolError(f"input {name!r}: binary_data_size {size!r} is not {count} {datatype} values "
                                f"({count * itemsize} bytes) for its shape")
        if offset + size > len(binary):
            raise ProtocolError(f"input {name!r}: binary_data_size {size} runs past the end of the body "
                                f"({len(binary) - offset} bytes left)")
        values = np.frombuffer(binary, dtype=np.dtype(NUMPY[datatype]).newbyteorder("<"), count=count, offset=offset)
        return values.astype(NUMPY[datatype]), offset + size

    @staticmethod
    def _split_body(raw: bytes, header_length: str | None) -> tuple[dict, bytes]:
        """(the JSON part, the bytes after it): the whole body is JSON unless the binary extension's header
        says how long the JSON is."""
        cut = len(raw)
        if header_length is not None:
            try:
                cut = int(header_length)
            except ValueError:
                cut = -1
            if not 0 <= cut <= len(raw):
                raise ProtocolError(f"{HEADER_LENGTH} must be a byte count within the body's {len(raw)} bytes, "
                                    f"not {header_length!r}")
        try:
            return json.loads(raw[:cut]), raw[cut:]
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError(f"the body is not JSON (binary tensors after the JSON need the {HEADER_LENGTH} "
                                "header: the JSON's length in bytes)" if header_length is None else
                                f"the body's first {cut} bytes ({HEADER_LENGTH}) are not JSON") from None

    @staticmethod
    def _binary_outputs(body: dict, names: list[str]) -> set[str]:
        """The outputs to send as bytes: those asked with parameters.binary_data, by default all when the request
        says parameters.binary_data_output."""
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        default = parameters.get("binary_data_output") is True
        asked = {o["name"]: (o.get("parameters") or {}) for o in body.get("outputs") or []}
        for name, options in asked.items():
            if not isinstance(options, dict) or any(key.startswith("shared_memory") or key == "classification"
                                                    for key in options):
                raise ProtocolError(f"output {name!r}: shared memory and classification are not supported")
        return {name for name in names if asked.get(name, {}).get("binary_data", default) is True}

    async def infer(self, request: Request) -> Response:
        predictor = self._model(request)
        body, binary = self._split_body(await request.body(), request.headers.get(HEADER_LENGTH))
        feeds = self._feeds(predictor, body, binary)
        names = [v.name for v in predictor.session.get_outputs()]
        requested = body.get("outputs") or []
        if not isinstance(requested, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                      for o in requested):
            raise ProtocolError('outputs must be a list of objects such as {"name": "logits"}')
        asked = [o["name"] for o in requested]
        unknown = [name for name in asked if name not in names]
        if unknown:
            raise ProtocolError(f"{predictor.name} has no outputs {unknown}; outputs: {', '.join(names)}")
        as_bytes = self._binary_outputs(body, asked or names)
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self.executor, predictor.session.run, asked or names, feeds)
        except Exception as error:  # onnxruntime's own types: a shape the graph cannot take, an id out of range
            raise ProtocolError(f"the model refused these tensors: {str(error)[:500]}") from None
        overflowed = [name for name, r in zip(asked or names, results) if r.dtype.kind == "f" and not np.isfinite(r).all()]
        if overflowed:  # JSON cannot carry them, and a client should not read them as numbers
            raise ProtocolError(f"outputs {overflowed} are not finite for these inputs: values (a state, features) "
                                "far outside what the model was trained on overflow it")
        outputs, chunks = [], []
        for name, result in zip(asked or names, results):
            output = {"name": name, "datatype": FROM_NUMPY[result.dtype], "shape": list(result.shape)}
            if name in as_bytes:
                chunks.append(np.ascontiguousarray(result, dtype=result.dtype.newbyteorder("<")).tobytes())
                output["parameters"] = {"binary_data_size": len(chunks[-1])}
            else:
                output["data"] = result.reshape(-1).tolist()
            outputs.append(output)
        answer = {"model_name": predictor.name, "model_version": predictor.card.version, "outputs": outputs}
        if isinstance(body.get("id"), str):
            answer["id"] = body["id"]
        if not chunks:
            return JSONResponse(answer)
        header = json.dumps(answer, separators=(",", ":")).encode()
        return Response(header + b"".join(chunks), media_type="application/octet-stream",
                        headers={HEADER_LENGTH: str(len(header))})


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
