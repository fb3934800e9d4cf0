"""/translate on a real `bentoml serve` with the shipped translator: concurrent requests share decoder calls and
each gets what it gets alone. (Bad requests get their 4xx in process, in tests/service/test_translation_api.py.)"""
import asyncio

import aiohttp
import pytest

from tests.helpers import get, merged_rows, post
from zoo.registry import list_models

pytestmark = [pytest.mark.http,
              pytest.mark.skipif(not list_models("translation"), reason="no translation model is shipped yet")]

SENTENCES = ["Ein kleines Mädchen klettert in ein Spielhaus aus Holz.", "Zwei Männer stehen am Strand.",
             "Ein Hund rennt durch das hohe Gras.", "Eine Gruppe von Menschen sitzt in einem Restaurant.",
             "Ein Junge springt von einem Felsen ins Wasser."]


def test_concurrent_requests_share_calls_and_answer_as_alone(server):
    model = list_models("translation")[0]
    alone = []
    for sentence in SENTENCES:
        status, answer = post(f"{server}/translate", {"texts": [sentence], "model": model})
        assert status == 200, answer
        alone.append(answer["translations"][0]["text"])

    async def together():
        async with aiohttp.ClientSession() as client:
            responses = await asyncio.gather(*(client.post(f"{server}/translate", json={"texts": [s], "model": model})
                                               for s in SENTENCES * 4))
            return [(r.status, await r.json()) for r in responses]

    rows_before, calls_before = merged_rows(get(f"{server}/metrics")[1], "translation")
    answers = asyncio.run(together())
    rows, calls = merged_rows(get(f"{server}/metrics")[1], "translation")
    assert all(status == 200 for status, _ in answers)
    assert [a["translations"][0]["text"] for _, a in answers] == alone * 4
    assert (rows - rows_before) / (calls - calls_before) > 4  # beams of several requests in one call, on average
