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


def test_the_cap_setting_is_validated(monkeypatch):
    monkeypatch.setenv("RNNZOO_MAX_BODY_BYTES", "2048")
    assert max_body_bytes() == 2048
    for bad in ("12", "lots", "-5"):
        monkeypatch.setenv("RNNZOO_MAX_BODY_BYTES", bad)
        with pytest.raises(ValueError, match="RNNZOO_MAX_BODY_BYTES"):
            max_body_bytes()
