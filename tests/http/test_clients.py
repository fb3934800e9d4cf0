"""The newcomer's path of issue 21 on a real server: `rnnzoo serve` started outside the checkout answers, and
BentoML's own clients (SyncHTTPClient, AsyncHTTPClient) call every task's endpoint and get what the in-process
pipeline answers, bad input raising the client's error with the 400's message."""
import asyncio
import base64
import sys

import bentoml
import pytest
from bentoml.exceptions import BentoMLException

import zoo
from service.local_server import local_server
from tests.helpers import closes
from tests.zoo.test_pipeline import PIECE, RECORD, assert_same

pytestmark = pytest.mark.http

GERMAN = ["Zwei Hunde spielen im Schnee."]


def calls(data_dir):
    """(task, the client call, the same request to the pipeline) for every task."""
    wav = data_dir / "fsdd" / "recordings" / "7_george_3.wav"
    series = closes(80)
    return [
        ("sentiment", lambda c: c.sentiment(texts=["a gorgeous, witty film"]), lambda p: p(["a gorgeous, witty film"])),
        ("generation", lambda c: c.generate(prompt="ROMEO:", max_new_tokens=30, seed=7),
         lambda p: p("ROMEO:", max_new_tokens=30, seed=7)),
        ("forecasting", lambda c: c.stock_forecast(closes=series, horizon=2), lambda p: p(series, horizon=2)),
        ("vitals", lambda c: c.vitals(record=RECORD), lambda p: p(record=RECORD)),
        ("music", lambda c: c.music_generate(primer=PIECE, steps=8, seed=3), lambda p: p(PIECE, steps=8, seed=3)),
        ("speech", lambda c: c.transcribe_file(audio=wav), lambda p: p(wav)),
        ("translation", lambda c: c.translate(texts=GERMAN, beam_size=2), lambda p: p(GERMAN, beam_size=2)),
    ]


def test_bentomls_sync_client_calls_every_task_as_the_pipeline_answers(server, data_dir):
    with bentoml.SyncHTTPClient(server) as client:
        for task, call, local in calls(data_dir):
            assert_same(call(client), local(zoo.pipeline(task)), task)
        with pytest.raises(BentoMLException, match="temperature"):
            client.generate(prompt="ROMEO:", temperature=0)
        speech = client.transcribe(audio=base64.b64encode((data_dir / "fsdd" / "recordings" / "7_george_3.wav")
                                                          .read_bytes()).decode())
        assert speech["text"] == "7"


def test_bentomls_async_client_calls_concurrently(server):
    async def translate_all():
        async with bentoml.AsyncHTTPClient(server) as client:
            return await asyncio.gather(*(client.translate(texts=[text]) for text in GERMAN * 4))

    answers = asyncio.run(translate_all())
    expected = zoo.pipeline("translation")(GERMAN)["translations"][0]["text"]
    assert [a["translations"][0]["text"] for a in answers] == [expected] * 4


def test_rnnzoo_serve_runs_outside_the_checkout(tmp_path):
    command = [sys.executable, "-m", "rnnzoo", "serve", "--port", "{port}"]
    with local_server(tmp_path / "serve.log", command=command, root=tmp_path) as url:
        with bentoml.SyncHTTPClient(url) as client:
            assert client.sentiment(texts=["wonderful"])["predictions"][0]["label"] == "positive"


def test_the_readmes_python_examples_run_as_shown(server, data_dir, tmp_path, monkeypatch):
    """Each Python block after <!-- tested-example --> in README.md, run in order in one namespace against a real
    server (its address for localhost:3000), from a folder holding the FSDD recording the README names."""
    import re
    import shutil

    from tests.helpers import REPO

    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"<!-- tested-example -->\n```python\n(.*?)```", readme, flags=re.S)
    assert len(blocks) == 4  # the quick start's client, the pipeline, a WAV upload, Triton's client
    shutil.copy(data_dir / "fsdd" / "recordings" / "7_george_3.wav", tmp_path)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    host = server.removeprefix("http://")
    for block in blocks:
        exec(compile(block.replace("localhost:3000", host), "README.md", "exec"), namespace)
    shown = re.search(r"^# '([^']+)'", "\n".join(blocks), flags=re.M).group(1)  # the translation the README shows
    assert namespace["english"] == shown
    assert namespace["answer"] == zoo.pipeline("sentiment")(["a gorgeous, witty, seductive movie."])
    assert namespace["heard"]["text"] == "7" and namespace["logits"].shape == (1, 5, 65)
