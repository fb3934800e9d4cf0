"""The body-size cap, as ASGI middleware (no server): declared and chunked bodies, under and over."""
import asyncio
import json

import pytest

from service.limits import BodySizeLimit, max_body_bytes


async def echo(scope, receive, send):
    message = await receive()
    body = message["body"]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def call(chunks: list[bytes], declared: int | None, max_bytes: int = 100):
    sent, pending = [], list(chunks)

    async def receive():
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [] if declared is None else [(b"content-length", str(declared).encode())]
    asyncio.run(BodySizeLimit(echo, max_bytes)({"type": "http", "headers": headers}, receive, send))
    return sent[0]["status"], sent[1]["body"]


def test_bodies_within_the_cap_reach_the_app_whole():
    assert call([b"x" * 100], declared=100) == (200, b"100")
    assert call([b"x" * 40, b"y" * 60], declared=None) == (200, b"100")  # chunked, reassembled


@pytest.mark.parametrize("chunks, declared", [([b"x" * 101], 101), ([b"x" * 60, b"y" * 60], None),
                                              ([b"x" * 10], 5000)])
def test_bodies_over_the_cap_get_413_with_the_limit(chunks, declared):
    status, body = call(chunks, declared)
    message = json.loads(body)["error"]
    assert status == 413 and "the limit is 100 bytes" in message and "RNNZOO_MAX_BODY_BYTES" in message


def assert_setting_is_validated(monkeypatch, variable: str, read, good: int, bad: tuple[str, ...]) -> None:
    """`read()` gives `good` when the variable says so, and names the variable in its ValueError for each of `bad`."""
    monkeypatch.setenv(variable, str(good))
    assert read() == good
    for value in bad:
        monkeypatch.setenv(variable, value)
        with pytest.raises(ValueError, match=variable):
            read()


def test_the_cap_setting_is_validated(monkeypatch):
    assert_setting_is_validated(monkeypatch, "RNNZOO_MAX_BODY_BYTES", max_body_bytes, 2048, ("12", "lots", "-5"))


def test_a_worker_at_its_limit_answers_503_at_once_and_frees_a_place_when_a_request_ends(monkeypatch):
    from service.limits import AdmissionLimit, max_in_progress

    async def scenario():
        release = asyncio.Event()

        async def app(scope, receive, send):
            await release.wait()
            if scope["path"] == "/fails":
                raise RuntimeError("the app's own error")
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})

        limited = AdmissionLimit(app, limit=2)

        async def request(path):
            sent = []

            async def send(message):
                sent.append(message)

            try:
                await limited({"type": "http", "path": path, "headers": []}, None, send)
            except RuntimeError:
                return None, {}, b""
            return sent[0]["status"], dict(sent[0]["headers"]), sent[1]["body"]

        held = [asyncio.ensure_future(request(path)) for path in ("/sentiment", "/fails")]
        await asyncio.sleep(0)
        refused = await request("/sentiment")  # answered while the two wait
        probe = asyncio.ensure_future(request("/readyz"))  # never refused
        await asyncio.sleep(0)
        release.set()
        results = await asyncio.gather(*held, probe)
        again = await request("/sentiment")  # both places free again, the failed request's too
        return refused, results, again, limited.in_progress

    refused, results, again, in_progress = asyncio.run(scenario())
    status, headers, body = refused
    assert status == 503 and headers[b"retry-after"] == b"1"
    assert "holds 2 requests" in json.loads(body)["error"] and "RNNZOO_MAX_IN_PROGRESS" in json.loads(body)["error"]
    assert [r[0] for r in results] == [200, None, 200] and again[0] == 200 and in_progress == 0
    assert_setting_is_validated(monkeypatch, "RNNZOO_MAX_IN_PROGRESS", max_in_progress, 64, ("0", "many", "1000000"))
