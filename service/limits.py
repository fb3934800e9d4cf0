"""Request limits enforced before a body is parsed: how many requests a worker holds at once (503 past it) and a
cap on a body's size (413 with the limit in the message)."""
from __future__ import annotations

import json
import os

MAX_BODY_ENV = "RNNZOO_MAX_BODY_BYTES"
# The largest legitimate body is a vitals record of 1,000,000 characters, which JSON escaping of its line
# breaks and quotes can grow by about a tenth; 4 MiB leaves room and still stops a client that sends more.
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


def max_body_bytes() -> int:
    value = os.environ.get(MAX_BODY_ENV, str(DEFAULT_MAX_BODY_BYTES))
    if not value.isdigit() or not 1024 <= int(value) <= 1024**3:
        raise ValueError(f"{MAX_BODY_ENV}={value!r}: expected a whole number of bytes from 1024 to 1073741824")
    return int(value)


MAX_IN_PROGRESS_ENV = "RNNZOO_MAX_IN_PROGRESS"
# Requests one API worker holds at once: waiting for a model, computing, or streaming. A worker answers about
# 1,200-3,300 one-row requests a second here, so 256 held is 0.1-0.2 s of queue (0.3 s at the soak's mix of
# endpoints). Past that a client is better answered at once (a 503 to retry, or for a balancer to try another
# replica) than kept until its own timeout: without a limit, an open loop at 85% of the probed peak made the queue
# grow until requests waited 30 s (service/docs/reliability.md). Not lower: the benchmarks keep 64 requests in
# flight, and each generation model may stream 64 at once.
# 1,024, not the 256 the overload soak ran with: at 256 the CI's 20-s soak at 70% met a burst and 296 requests
# got the 503; 1,024 still bounds the queue (about 1 s at the soak's mix) and is what the 70% soak's client can hold.
DEFAULT_MAX_IN_PROGRESS = 1024
ALWAYS_ANSWERED = frozenset({"/livez", "/readyz", "/metrics"})  # probes and scrapes answer even at the limit


async def send_error(send, status: int, message: str, headers: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    """Answer from middleware, before the app: `{"error": message}` as JSON with `status`."""
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def max_in_progress() -> int:
    value = os.environ.get(MAX_IN_PROGRESS_ENV, str(DEFAULT_MAX_IN_PROGRESS))
    if not value.isdigit() or not 1 <= int(value) <= 100_000:
        raise ValueError(f"{MAX_IN_PROGRESS_ENV}={value!r}: expected a whole number of requests from 1 to 100000")
    return int(value)


class AdmissionLimit:
    """ASGI middleware: a worker holding `limit` requests answers the next one at once with 503 and Retry-After,
    before reading its body, and takes requests again as soon as one ends. Health probes and /metrics are never
    refused. Why not BentoML's `traffic.max_concurrency`: it answers 429, which says the client sent too much, with
    the bare text "Too many requests"; an overloaded server is a 503 that says why and when to retry."""

    def __init__(self, app, limit: int):
        self.app, self.limit, self.in_progress = app, limit, 0

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] in ALWAYS_ANSWERED:
            return await self.app(scope, receive, send)
        if self.in_progress >= self.limit:
            return await send_error(send, 503, f"this worker holds {self.in_progress} requests, its limit "
                                               f"({MAX_IN_PROGRESS_ENV}); retry in a second", ((b"retry-after", b"1"),))
        self.in_progress += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_progress -= 1


def header(scope, name: bytes) -> bytes | None:
    """A request header's value (ASGI gives names lower-cased), or None."""
    return next((value for key, value in scope.get("headers", []) if key == name), None)


class BodySizeLimit:
    """ASGI middleware: a body over `max_bytes` gets 413 whether it declares its length (refused before
    reading) or comes in chunks (refused once the count passes the cap); it never reaches the app."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def _refuse(self, send, size: str) -> None:
        await send_error(send, 413, f"request body is {size} bytes; the limit is {self.max_bytes} bytes ({MAX_BODY_ENV})")

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await self._refuse(send, declared.decode())
        # Read the whole body here, before the app: a chunked body has no length to check up front, and
        # an error raised while the app reads would surface as its 500, not a 413.
        chunks, received, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client left
                return
            chunks.append(message.get("body", b""))
            received += len(chunks[-1])
            if received > self.max_bytes:
                return await self._refuse(send, f"over {self.max_bytes}")
            more = message.get("more_body", False)
        replayed = False

        async def replay():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: wait for the disconnect, as the server would say

        await self.app(scope, replay, send)


JSON_TYPES = ("application/json", "")  # an absent media type is read as JSON, as BentoML does


def error_message(payload) -> dict | None:
    """BentoML's 4xx bodies in the shape its OpenAPI document declares, {"error": str, "detail": str}: it
    sends some as a one-element list and puts pydantic's error list under `detail`."""
    if isinstance(payload, list) and len(payload) == 1 and isinstance(payload[0], dict):
        payload = payload[0]
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), str):
        return None
    shaped = {"error": payload["error"]}
    detail = payload.get("detail")
    if isinstance(detail, list):  # pydantic errors: "field.path: message" each
        detail = "; ".join(f"{'.'.join(str(part) for part in item.get('loc', []))}: {item.get('msg', '')}"
                           if isinstance(item, dict) else str(item) for item in detail)
    if detail is not None:
        shaped["detail"] = str(detail)
    return shaped


class JSONRequests:
    """ASGI middleware: a POST body that declares a media type other than JSON gets 415 (BentoML answered a
    multipart type without a boundary with 500), except multipart/form-data with a boundary on the `uploads`
    routes (file inputs); and every 4xx answer is an object {"error", "detail"?}."""

    def __init__(self, app, uploads: tuple[str, ...] = ()):
        self.app, self.uploads = app, uploads

    def refusal(self, scope) -> str | None:
        """Why this POST's media type is refused, or None."""
        declared = (header(scope, b"content-type") or b"").decode("latin-1")
        media = declared.split(";")[0].strip().lower()
        if scope.get("path") in self.uploads:
            if media == "multipart/form-data" and "boundary=" in declared.lower():
                return None
            return (f"Content-Type {media!r} is not accepted here; send multipart/form-data with the file as a part "
                    "(curl -F audio=@recording.wav)")
        return None if media in JSON_TYPES else f"Content-Type {media!r} is not accepted; send application/json"

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        if scope.get("method") == "POST":
            refusal = self.refusal(scope)
            if refusal is not None:
                await send_error(send, 415, refusal)
                return
        held: dict | None = None  # a 4xx answer's start, kept until its body is reshaped
        chunks: list[bytes] = []

        async def reshaping_send(message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and 400 <= message["status"] < 500:
                held = message
                return
            if held is None or message["type"] != "http.response.body":
                return await send(message)
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(chunks)
            try:
                shaped = error_message(json.loads(body))
            except ValueError:
                shaped = None
            if shaped is not None:
                body = json.dumps(shaped, ensure_ascii=False).encode()
            headers = [(k, v) for k, v in held.get("headers", []) if k.lower() != b"content-length"]
            await send({**held, "headers": headers + [(b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, reshaping_send)
