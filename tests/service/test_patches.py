"""The TimeoutMiddleware fix: the per-request timer is disarmed once the answer starts, and a request that
sends nothing within the timeout still gets the 504."""
import asyncio

import pytest
from bentoml._internal.server.http.traffic import TimeoutMiddleware

from service import patches

patches.apply()


async def call(app, timeout: float) -> list[dict]:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    await TimeoutMiddleware(app, timeout)({"type": "http", "method": "POST", "path": "/x", "headers": []}, receive, send)
    return sent


async def answer(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def test_no_timer_outlives_its_request():
    async def scenario():
        for _ in range(100):
            sent = await call(answer, timeout=60)
            assert sent[0]["status"] == 200
        loop = asyncio.get_running_loop()
        # BentoML 1.4.40 left one armed 60 s timer (holding the request's context) per request here
        return [handle for handle in loop._scheduled if not handle.cancelled()]

    assert asyncio.run(scenario()) == []


def test_a_request_that_sends_nothing_in_time_gets_504():
    async def silent(scope, receive, send):
        await asyncio.sleep(5)

    sent = asyncio.run(call(silent, timeout=0.05))
    assert sent[0]["status"] == 504 and b"0.05 seconds" in sent[1]["body"]


def test_the_patch_applies_only_to_the_bentoml_it_was_written_for():
    import bentoml

    assert bentoml.__version__ == patches.PATCHED_VERSION and patches.apply()  # the pinned version: patched
    with pytest.warns(RuntimeWarning, match="written for BentoML 1.4.40, not 1.5.0"):
        assert patches.apply("1.5.0") is False


def test_an_api_method_is_wrapped_once_per_instance_and_still_fills_its_defaults():
    """BentoML rebuilt the wrapper (inspect.signature, functools.wraps) on every request's method lookup; patched,
    the lookup returns the wrapper built the first time, which still fills a Field's default."""
    import bentoml
    from pydantic import Field

    @bentoml.service
    class Echo:
        @bentoml.api
        def echo(self, text: str, times: int = Field(default=2)) -> str:
            return text * times

    first, second = object.__new__(Echo.inner), object.__new__(Echo.inner)
    assert first.echo.local is first.echo.local  # built once, then reused
    assert first.echo.local is not second.echo.local  # each instance has its own
    assert first.echo.local("ab") == "abab" and first.echo.local("ab", times=3) == "ababab"
