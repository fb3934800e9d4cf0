"""/transcribe, /transcribe/file and speech sessions on a real `bentoml serve` with the shipped models: a digit
string of the test speaker gets the same answer as JSON, as a multipart upload, concurrently and in process;
streamed to a session in 100 ms chunks it ends with the same text. (Bad requests get their 4xx in process, in
tests/service/test_speech_api.py.)"""
import asyncio
import base64
import json

import aiohttp
import numpy as np
import pytest

from tests.helpers import get, merged_rows, post
from tests.training.test_speech import wav
from training.speech.data import load_recordings, split
from training.speech.strings import Augmentation, draw_utterances
from zoo.artifacts import ARTIFACTS_DIR
from zoo.tasks.speech.predictor import SpeechPredictor

pytestmark = pytest.mark.http


@pytest.fixture(scope="module")
def strings(data_dir):
    """Three seeded digit strings of george, the speaker no model trained on, as 16-bit WAV files."""
    test = split(load_recordings(data_dir))["test"]
    return [u for u in draw_utterances(test, 3, seed=5, augmentation=Augmentation.none(), single_share=0.0)]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("model", ["digits-gru", "digits-lstm"])
def test_an_upload_is_heard_as_in_process_as_json_as_a_file_and_concurrently(server, strings, model):
    utterance = strings[0]
    audio = wav(utterance.samples)
    status, answer = post(f"{server}/transcribe", {"audio": b64(audio), "model": model})
    assert status == 200, answer
    predictor = SpeechPredictor(ARTIFACTS_DIR / model, ["CPUExecutionProvider"])
    quantised = np.round(utterance.samples * 32768).clip(-32768, 32767) / 32768  # as the 16-bit file holds them
    expected = predictor.transcribe(quantised.astype(np.float32))
    assert answer["text"] == " ".join(str(d.digit) for d in expected)
    assert answer["duration_s"] == pytest.approx(len(utterance.samples) / 8000, abs=1e-3)
    assert [d["digit"] for d in answer["digits"]] == [d.digit for d in expected]

    async def upload_and_concurrent():
        async with aiohttp.ClientSession() as client:
            form = aiohttp.FormData()
            form.add_field("audio", audio, filename="string.wav", content_type="audio/wav")
            form.add_field("model", model)
            async with client.post(f"{server}/transcribe/file", data=form) as response:
                uploaded = (response.status, await response.json())
            # 8 copies of the 3 strings at once: enough that some share a call even on a busy machine (with 3
            # copies, a loaded CI run once saw every upload reach the model alone)
            bodies = [{"audio": b64(wav(u.samples)), "model": model} for u in strings] * 8
            together = await asyncio.gather(*(client.post(f"{server}/transcribe", json=b) for b in bodies))
            return uploaded, [(r.status, await r.json()) for r in together]

    rows_before, calls_before = merged_rows(get(f"{server}/metrics")[1], "speech")
    (status, uploaded), together = asyncio.run(upload_and_concurrent())
    rows, calls = merged_rows(get(f"{server}/metrics")[1], "speech")
    assert rows - rows_before == 1 + 24 and calls - calls_before < rows - rows_before  # uploads shared calls
    assert status == 200 and uploaded == answer, uploaded
    alone = [post(f"{server}/transcribe", {"audio": b64(wav(u.samples)), "model": model})[1] for u in strings]
    assert all(s == 200 for s, _ in together)
    for batched, solo in zip([a for _, a in together], alone * 8):  # merged calls pad: logits agree to ~1e-5
        assert heard(batched) == heard(solo)
        assert [d["confidence"] for d in batched["digits"]] == pytest.approx([d["confidence"] for d in solo["digits"]],
                                                                             abs=1e-3)


def heard(answer: dict) -> tuple:
    return answer["text"], [(d["digit"], d["start_s"], d["end_s"]) for d in answer["digits"]]


def test_a_file_upload_that_is_not_multipart_or_not_a_wav_gets_a_4xx(server):
    status, answer = post(f"{server}/transcribe/file", {"audio": "x"})
    assert status == 415 and "multipart/form-data" in answer["error"], answer

    async def upload(data: bytes):
        async with aiohttp.ClientSession() as client:
            form = aiohttp.FormData()
            form.add_field("audio", data, filename="song.mp3", content_type="audio/mpeg")
            async with client.post(f"{server}/transcribe/file", data=form) as response:
                return response.status, await response.json()

    status, answer = asyncio.run(upload(b"ID3\x03 an mp3 file"))
    assert status == 400 and "not a WAV file" in json.dumps(answer), answer


def test_a_stream_in_100_ms_chunks_ends_with_the_one_shot_text(server, strings):
    utterance = strings[1]
    audio = wav(utterance.samples)
    status, one_shot = post(f"{server}/transcribe", {"audio": b64(audio), "model": "digits-gru"})
    assert status == 200 and len(one_shot["digits"]) >= 2, one_shot
    status, started = post(f"{server}/sessions/start", {"model": "digits-gru"})
    assert status == 200 and started["task"] == "speech", started
    pcm = audio[audio.index(b"data") + 8 :]  # the WAV's 16-bit little-endian samples, sent raw
    answers = []
    for start in range(0, len(pcm), 1600):  # 100 ms at 8 kHz, 2 bytes a sample
        status, answer = post(f"{server}/sessions/step", {"session_id": started["session_id"],
                                                          "audio": b64(pcm[start : start + 1600])})
        assert status == 200, answer
        answers.append(answer["speech"])
    assert answers[-1]["text"] == one_shot["text"] and answers[-1]["digits"] == one_shot["digits"]
    assert answers[-1]["seconds_heard"] == pytest.approx(one_shot["duration_s"], abs=1e-3)
    assert [a["seconds_heard"] for a in answers[:2]] == pytest.approx([0.1, 0.2])
    status, answer = post(f"{server}/sessions/step", {"session_id": started["session_id"], "text": "4 1"})
    assert status == 400 and "send `audio`" in answer["error"], answer
    assert post(f"{server}/sessions/end", {"session_id": started["session_id"]})[0] == 200
