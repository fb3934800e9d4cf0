"""A real `bentoml serve` process (started from pyproject.toml's [tool.bentoml.build]) as a whole: readiness,
the catalogue, and the body cap on the socket (the 413 comes before the body is sent). Request validation is in process, in
tests/service/test_api.py."""
import json
import re

import pytest

from tests.helpers import get
from zoo import list_models

pytestmark = pytest.mark.http


def test_readyz_and_models(server):
    assert get(f"{server}/readyz")[0] == 200
    status, body = get(f"{server}/models")
    listing = json.loads(body)
    assert status == 200 and listing["broken"] == {}
    cards = {card["name"]: card for card in listing["models"]}
    assert sorted(cards) == list_models()
    for card in cards.values():
        assert re.fullmatch(r"[0-9a-f]{64}", card["export"]["sha256"])
        assert card["metrics"][0]["baseline"] and card["inputs"][0]["name"] in ("token_ids", "tokens", "features", "frames")


def test_an_oversized_body_gets_413_before_it_is_sent(server):
    """The declared length alone is enough: the server answers without reading a byte of the body."""
    import socket

    host, port = server.rsplit("/", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(b"POST /vitals HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                           b"Content-Length: 5000000\r\n\r\n")
        answer = b""
        while b"bytes" not in answer.split(b"\r\n\r\n", 1)[-1]:  # headers and body may come apart
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413") and "the limit is 4194304 bytes" in answer, answer[:300]
