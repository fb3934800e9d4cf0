"""Music requests refused in process (issue 18): every bad piece, primer, limit or model gets a 4xx saying what
was wrong and what is allowed; the limits are the documented ones."""
import json

import pytest

from service.tasks.music import MAX_PIECE_FRAMES, MAX_PIECES, MAX_SCORE_FRAMES, MAX_STEPS

CHORD = [60, 64, 67]


@pytest.mark.parametrize("endpoint, body, status, message", [
    ("/music/generate", {"primer": [CHORD, [20]]}, 400, "greater than or equal to 21"),
    ("/music/generate", {"primer": [[109]]}, 400, "less than or equal to 108"),
    ("/music/generate", {"primer": [["C4"]]}, 400, "valid integer"),
    ("/music/generate", {"primer": [CHORD] * 2001}, 400, "at most 2000 items"),
    ("/music/generate", {"primer": [list(range(21, 110))]}, 400, "at most 88 items"),
    ("/music/generate", {"steps": 0}, 400, "greater than or equal to 1"),
    ("/music/generate", {"steps": MAX_STEPS + 1}, 400, "less than or equal to 2000"),
    ("/music/generate", {"temperature": 0}, 400, "greater than 0"),
    ("/music/generate", {"temperature": 2.5}, 400, "less than or equal to 2"),
    ("/music/generate", {"seed": -1}, 400, "greater than or equal to 0"),
    ("/music/generate", {"model": "shakespeare-gru"}, 400, "is a generation model; music models: jsb-gru"),
    ("/music/generate", {"model": "bach-gru"}, 404, "unknown model 'bach-gru'; music models: jsb-gru, jsb-lstm"),
    ("/music/generate_stream", {"primer": [[200]]}, 400, "less than or equal to 108"),
    ("/music/generate_stream", {"model": "sst2-gru"}, 400, "is a sentiment model"),
    ("/music/score", {}, 400, "pieces"),
    ("/music/score", {"pieces": []}, 400, "at least 1 item"),
    ("/music/score", {"pieces": [[]]}, 400, "at least 1 item"),
    ("/music/score", {"pieces": [[CHORD]] * (MAX_PIECES + 1)}, 400, "at most 64 items"),
    ("/music/score", {"pieces": [[CHORD] * (MAX_PIECE_FRAMES + 1)]}, 400, "at most 10000 items"),
    ("/music/score", {"pieces": [[CHORD] * MAX_PIECE_FRAMES] * (MAX_SCORE_FRAMES // MAX_PIECE_FRAMES + 1)}, 400,
     "the pieces have 110,000 frames in all; the maximum per request is 100,000"),
    ("/music/score", {"pieces": [[CHORD, [12]]]}, 400, "greater than or equal to 21"),
    ("/music/score", {"pieces": [[CHORD]], "model": "vitals-gru"}, 400, "is a vitals model; music models"),
])
def test_bad_music_requests_get_a_4xx_that_says_what_is_allowed(api, endpoint, body, status, message):
    got, answer = api.post(endpoint, body)
    assert got == status and message in json.dumps(answer), answer


def test_a_piece_is_scored_and_silence_is_a_frame(api):
    status, answer = api.post("/music/score", {"pieces": [[CHORD, [], CHORD], [[21, 108]]], "model": "jsb-gru"})
    assert status == 200 and answer["model"] == "jsb-gru" and answer["frames"] == [3, 1]
    assert all(nll > 0 for nll in answer["nll"])


def test_music_sessions_refuse_other_fields_and_bad_frames(api):
    session_id = api.post("/sessions/start", {"model": "jsb-lstm"})[1]["session_id"]
    for fields, message in [({"text": "a"}, "is on the music model jsb-lstm: send `frames` (may be empty), not"),
                            ({}, "send `frames`"),
                            ({"frames": [[20]]}, "greater than or equal to 21"),
                            ({"frames": [CHORD], "steps": 2001}, "less than or equal to 2000")]:
        status, answer = api.post("/sessions/step", {"session_id": session_id, **fields})
        assert status == 400 and message in json.dumps(answer), (fields, answer)
    status, answer = api.post("/sessions/step", {"session_id": session_id, "frames": [CHORD]})
    assert status == 200 and answer["music"]["frames_seen"] == 1 and answer["vitals"] is None
    assert answer["music"]["likely_pitches"] == sorted(answer["music"]["likely_pitches"])
    text_id = api.post("/sessions/start", {"model": "shakespeare-lstm"})[1]["session_id"]
    status, answer = api.post("/sessions/step", {"session_id": text_id, "frames": [CHORD]})
    assert status == 400 and "send `text` (may be empty), not `observations` or `frames`" in json.dumps(answer)
