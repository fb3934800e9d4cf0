"""/music/generate, /music/generate_stream, /music/score and music sessions on a real `bentoml serve` with the
shipped models: seeded pieces are the same alone, concurrent and streamed, and equal what the predictor writes
in process; scores are the card's numbers; a piece sent to a session in steps gets the scores /music/score
gives for the whole. (Bad requests get their 4xx in process, in tests/service/test_music_api.py.)"""
import asyncio
import base64
import io
import json
import urllib.request

import aiohttp
import mido
import numpy as np
import pytest

from tests.helpers import post
from training.music.data import load_pieces
from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import ModelCard
from zoo.tasks.music.predictor import MusicPredictor
from zoo.tasks.music.rolls import pitches_from_roll, roll_from_pitches

pytestmark = pytest.mark.http
PRIMER = [[48, 60, 64, 67], [48, 60, 64, 67], [53, 60, 65, 69], [55, 59, 62, 67]]


def sse(body: str) -> list[tuple[str, dict]]:
    events = []
    for block in body.split("\n\n"):
        if block.strip():
            fields = dict(line.split(": ", 1) for line in block.split("\n"))
            events.append((fields.get("event", "message"), json.loads(fields["data"])))
    return events


def post_text(url: str, body: dict) -> tuple[int, str, str]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, response.headers.get("content-type"), response.read().decode()


@pytest.mark.parametrize("model", ["jsb-gru", "nottingham-lstm"])
def test_a_seeded_piece_is_the_same_alone_streamed_concurrent_and_in_process(server, model):
    body = {"primer": PRIMER, "steps": 48, "temperature": 0.9, "seed": 11, "model": model}
    status, first = post(f"{server}/music/generate", body)
    assert status == 200, first
    assert first["model"] == model and first["finish_reason"] == "length" and len(first["frames"]) == 48
    assert all(21 <= p <= 108 for frame in first["frames"] for p in frame)
    predictor = MusicPredictor(ARTIFACTS_DIR / model, ["CPUExecutionProvider"])
    expected = predictor.continuation(roll_from_pitches(PRIMER), 48, np.random.default_rng(11), 0.9)
    assert first["frames"] == pitches_from_roll(expected)  # the scheduler draws what the predictor draws
    midi = mido.MidiFile(file=io.BytesIO(base64.b64decode(first["midi"])))
    assert midi.type == 0 and midi.length == pytest.approx(48 * 0.25)

    status, media, stream = post_text(f"{server}/music/generate_stream", body)
    assert status == 200 and media.startswith("text/event-stream")
    events = sse(stream)
    assert [kind for kind, _ in events] == ["message"] * 48 + ["done"]
    assert [data["frame"] for _, data in events[:-1]] == first["frames"]
    assert events[-1][1] == first

    async def together():  # seeded pieces batched with others (different seeds and lengths) in one step loop
        async with aiohttp.ClientSession() as client:
            async def one(seed, steps):
                async with client.post(f"{server}/music/generate", json={**body, "seed": seed, "steps": steps}) as r:
                    return r.status, await r.json()
            return await asyncio.gather(*(one(seed, steps) for seed, steps in
                                          [(11, 48), (12, 30), (11, 48), (13, 64), (11, 48), (14, 5)]))
    answers = asyncio.run(together())
    assert all(status == 200 for status, _ in answers)
    assert all(answer == first for _, answer in (answers[0], answers[2], answers[4]))
    assert [len(answer["frames"]) for _, answer in answers] == [48, 30, 48, 64, 48, 5]


def test_scores_are_the_cards_numbers(server, data_dir):
    card = ModelCard.load(ARTIFACTS_DIR / "jsb-lstm")
    pieces = [pitches_from_roll(p) for p in load_pieces("jsb", "validation", data_dir)]
    status, answer = post(f"{server}/music/score", {"pieces": pieces[:64], "model": "jsb-lstm"})
    assert status == 200, answer
    status, rest = post(f"{server}/music/score", {"pieces": pieces[64:], "model": "jsb-lstm"})
    frames = answer["frames"] + rest["frames"]
    nll = answer["nll"] + rest["nll"]
    assert frames == [len(p) for p in pieces]
    assert np.dot(nll, frames) / sum(frames) == pytest.approx(card.metrics[0].value, abs=1e-3)


def test_a_piece_sent_to_a_session_in_steps_scores_as_the_whole(server, data_dir):
    piece = pitches_from_roll(load_pieces("nottingham", "validation", data_dir)[0][:90])
    status, whole = post(f"{server}/music/score", {"pieces": [piece], "model": "nottingham-gru"})
    assert status == 200, whole
    status, started = post(f"{server}/sessions/start", {"model": "nottingham-gru"})
    assert status == 200 and started["task"] == "music"
    session_id, total, sent = started["session_id"], 0.0, 0
    for size in (1, 7, 30, 52):
        status, answer = post(f"{server}/sessions/step", {"session_id": session_id, "frames": piece[sent:sent + size]})
        assert status == 200, answer
        music = answer["music"]
        assert answer["generation"] is None and music["frames_seen"] == sent + size
        assert len(music["probabilities"]) == 88 and music["continuation"] == []
        total += music["nll"] * size
        sent += size
    assert total / sent == pytest.approx(whole["nll"][0], abs=1e-3)
    # a continuation is sampled from the session's state and leaves it as it was
    status, answer = post(f"{server}/sessions/step", {"session_id": session_id, "frames": [], "steps": 16, "seed": 5,
                                                      "temperature": 1.0})
    assert status == 200 and len(answer["music"]["continuation"]) == 16 and answer["music"]["nll"] is None
    status, again = post(f"{server}/sessions/step", {"session_id": session_id, "frames": [], "steps": 16, "seed": 5,
                                                     "temperature": 1.0})
    assert again["music"]["continuation"] == answer["music"]["continuation"]
    status, generated = post(f"{server}/music/generate", {"primer": piece, "steps": 16, "seed": 5, "temperature": 1.0,
                                                          "model": "nottingham-gru"})
    assert generated["frames"] == answer["music"]["continuation"]  # the session's state is the whole piece's
    assert post(f"{server}/sessions/end", {"session_id": session_id})[0] == 200
