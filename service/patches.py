"""Fixes to the pinned BentoML (1.4.40) that the service depends on, applied when service.service is
imported (in every worker, before BentoML builds the ASGI app).

1. The timer every request leaves armed (below).
2. The API method looked up afresh on every request: BentoML's endpoint does
   `getattr(service_instance, name).local`, and `APIMethod.__get__` builds a new wrapper each time, calling
   `inspect.signature` on the method and `functools.wraps` for it. py-spy put 5-7% of the API worker's event
   loop there under 64 clients. The wrapper depends only on the method and the instance, so it is built once
   per pair and reused (`_cached_local_call`).

TimeoutMiddleware arms a `loop.call_later(timeout, ...)` timer per request and never cancels it, so each
request's timer, future and context (with its tracing span) lived on for the whole traffic timeout
(60 s) after the answer had gone. At 900 requests/s that was over a million live objects: the garbage
collector's full passes over them stalled every request for 70-140 ms every few seconds, and memory grew
by about 300 MB under load. The replacement below behaves the same (a 504 when nothing has been sent
within the timeout) but cancels the timer once the answer starts or the request ends.
"""
from __future__ import annotations

import asyncio
import warnings

from starlette.responses import JSONResponse


async def _call_with_cancelled_timer(self, scope, receive, send) -> None:
    if scope["type"] not in ("http", "websocket"):
        return await self.app(scope, receive, send)
    loop = asyncio.get_running_loop()
    first_message = loop.create_future()  # resolved by the answer's first message, or by the timer
    timer = loop.call_later(self.timeout, self._set_timer_out, first_message)

    async def send_and_disarm(message) -> None:
        if not first_message.done():
            first_message.set_result(None)
            timer.cancel()
        await send(message)

    request = asyncio.ensure_future(self.app(scope, receive, send_and_disarm))
    try:
        await first_message
    except asyncio.TimeoutError:
        if request.cancel():
            await JSONResponse({"error": f"Not able to process the request in {self.timeout} seconds"},
                               status_code=504)(scope, receive, send)
    else:
        await request
    finally:
        timer.cancel()


_LOCAL_CALLS = "__rnnzoo_local_calls__"  # the instance attribute holding its built wrappers, by method name


def _cached_local_call(original):
    def local_call(self, instance):
        built = instance.__dict__.setdefault(_LOCAL_CALLS, {})
        if self.name not in built:
            built[self.name] = original(self, instance)
        return built[self.name]

    local_call.__wrapped__ = original
    return local_call


PATCHED_VERSION = "1.4.40"  # the BentoML these fixes were written for (the timer fix replaces its code line for line)


def apply(version: str | None = None) -> bool:
    """Apply both fixes if the installed BentoML is the version they were written for; otherwise warn and leave
    BentoML as it is (a newer one may have fixed them, or changed the classes). True if applied."""
    import bentoml

    version = version or bentoml.__version__
    if version != PATCHED_VERSION:
        warnings.warn(f"service/patches.py was written for BentoML {PATCHED_VERSION}, not {version}: its "
                      "fixes are not applied (check whether this BentoML still leaks its timers and still rebuilds "
                      "each API method per request)",
                      RuntimeWarning, stacklevel=2)
        return False
    from _bentoml_sdk.method import APIMethod
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    TimeoutMiddleware.__call__ = _call_with_cancelled_timer
    if not hasattr(APIMethod._local_call, "__wrapped__"):  # applied once, however often apply() is called
        APIMethod._local_call = _cached_local_call(APIMethod._local_call)
    return True
