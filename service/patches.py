"""Fixes to the pinned BentoML (1.4.40) that the service depends on, applied when service.service is
imported (in every worker, before BentoML builds the ASGI app).

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


PATCHED_VERSION = "1.4.40"  # the BentoML whose TimeoutMiddleware this replaces, line for line


def apply(version: str | None = None) -> bool:
    """Patch TimeoutMiddleware if the installed BentoML is the version the patch was written for; otherwise warn
    and leave BentoML as it is (a newer one may have fixed it, or changed the class). True if applied."""
    import bentoml

    version = version or bentoml.__version__
    if version != PATCHED_VERSION:
        warnings.warn(f"service/patches.py was written for BentoML {PATCHED_VERSION}, not {version}: its "
                      "TimeoutMiddleware fix is not applied (check whether this BentoML still leaks its timers)",
                      RuntimeWarning, stacklevel=2)
        return False
    from bentoml._internal.server.http.traffic import TimeoutMiddleware

    TimeoutMiddleware.__call__ = _call_with_cancelled_timer
    return True
