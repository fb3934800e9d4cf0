"""/transcribe in process (issue 19): a real recording in several WAV forms is heard the same; every bad upload
gets a 4xx saying what is accepted."""
import base64
import json

import numpy as np
import pytest

from tests.training.test_speech import wav
from training.speech.data import load_recordings, split


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture(scope="module")
def george(data_dir):
    return split(load_recordings(data_dir))["test"]


def test_a_recording_is_heard_the_same_in_every_wav_form(api, george):
    recording = next(r for r in george if r.digit == 7 and r.index == 3)
    status, first = api.post("/transcribe", {"audio": b64(wav(recording.samples)), "model": "digits-lstm"})
    assert status == 200, first
    assert first["model"] == "digits-lstm" and first["duration_s"] == pytest.approx(recording.seconds, abs=1e-3)
    assert first["text"] == " ".join(str(d["digit"]) for d in first["digits"])
    assert all(0 <= d["start_s"] < d["end_s"] <= recording.seconds + 0.05 and 0 < d["confidence"] <= 1
               for d in first["digits"])
    for form in (dict(bits=24), dict(bits=32, float_samples=True), dict(bits=16, channels=2)):
        status, again = api.post("/transcribe", {"audio": b64(wav(recording.samples, **form)), "model": "digits-lstm"})
        assert status == 200 and again["text"] == first["text"], (form, again)
    # 16 kHz: resampled in the service to 8 kHz; a digit string survives it
    t = np.arange(2 * len(recording.samples)) / 2
    upsampled = np.interp(t, np.arange(len(recording.samples)), recording.samples).astype(np.float32)
    status, resampled = api.post("/transcribe", {"audio": b64(wav(upsampled, rate=16000)), "model": "digits-lstm"})
    assert status == 200 and resampled["duration_s"] == pytest.approx(recording.seconds, abs=1e-3)


@pytest.mark.parametrize("audio, message", [
    ("not base64!", "audio is not valid base64"),
    (b64(b"ID3\x03 an mp3 file"), "audio: not a WAV file (no RIFF/WAVE header); accepted: RIFF/WAVE, PCM"),
    (b64(wav(np.zeros(10, np.float32)).replace(b"\x01\x00\x01\x00", b"\x55\x00\x01\x00", 1)), "format tag 85"),
    (b64(wav(np.zeros(0, np.float32))), "holds no samples"),
    (b64(wav(np.zeros(61 * 8000, np.float32))), "audio lasts 61.0 s; the maximum is 60 s"),
    (b64(wav(np.full(800, 3e17, np.float32), bits=32, float_samples=True)), "float samples reach 3e+17"),
    ("", "at least 1 character"),
])
def test_bad_uploads_get_a_400_that_says_what_is_accepted(api, audio, message):
    status, answer = api.post("/transcribe", {"audio": audio})
    assert status == 400 and message in json.dumps(answer), answer


def test_another_tasks_model_and_an_unknown_one_are_refused(api):
    audio = b64(wav(np.zeros(800, np.float32)))
    status, answer = api.post("/transcribe", {"audio": audio, "model": "jsb-gru"})
    assert status == 400 and "is a music model; speech models: digits-gru" in json.dumps(answer)
    status, answer = api.post("/transcribe", {"audio": audio, "model": "whisper"})
    assert status == 404 and "speech models" in json.dumps(answer)
    status, answer = api.post("/transcribe", {"audio": audio})
    assert status == 200 and answer["text"] == "" and answer["digits"] == []  # silence: no digit


@pytest.mark.parametrize("step, message", [
    ({"audio": "not base64!"}, "audio is not valid base64"),
    ({"audio": b64(b"\x01\x02\x03")}, "raw audio is 3 bytes, an odd number"),
    ({"audio": b64(b"\0\0" * 10), "sample_rate": 12345}, "sample_rate 12345 is not one of 8000, 11025, 16000"),
    ({"audio": b64(b"\0\0" * 8000 * 11)}, "the chunk lasts 11.0 s; the maximum is 10 s per step"),
    ({"audio": b64(wav(np.zeros(8000 * 11, np.float32)))}, "audio lasts 11.0 s; the maximum is 10 s per step"),
    ({"frames": [[60]]}, "send `audio` (a chunk of audio, may be empty), not"),
])
def test_a_bad_chunk_gets_a_400_and_leaves_the_session_as_it_was(api, step, message):
    status, started = api.post("/sessions/start", {"model": "digits-gru"})
    assert status == 200 and started["task"] == "speech", started
    status, answer = api.post("/sessions/step", {"session_id": started["session_id"], **step})
    assert status == 400 and message in json.dumps(answer), answer
    status, answer = api.post("/sessions/step", {"session_id": started["session_id"], "audio": b64(b"\0\0" * 800)})
    assert status == 200 and answer["speech"]["seconds_heard"] == pytest.approx(0.1), answer


def test_a_session_refuses_audio_past_its_limit(api, monkeypatch):
    from service.tasks import speech
    monkeypatch.setattr(speech, "MAX_STREAM_SECONDS", 0.5)
    status, started = api.post("/sessions/start", {"model": "digits-gru"})
    chunk = {"session_id": started["session_id"], "audio": b64(b"\0\0" * 3200)}  # 0.4 s
    assert api.post("/sessions/step", chunk)[0] == 200
    status, answer = api.post("/sessions/step", chunk)
    assert status == 400 and "a session takes at most 0.5 s: start a new one" in json.dumps(answer), answer
