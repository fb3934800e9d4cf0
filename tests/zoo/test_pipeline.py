"""The in-process API (issue 21): `zoo.load` opens a shipped model as the service does, `zoo.pipeline(task)` answers
every task's requests with the same body as its HTTP endpoint, and bad input raises InputError saying what is
allowed, as the endpoint's 400 does."""
import base64
import io
import wave

import numpy as np
import pytest

import zoo
from tests.helpers import closes
from zoo.artifacts import ArtifactError
from zoo.task import InputError, Pipeline, check_option
from zoo.tasks import TASKS

RECORD = "Time,Parameter,Value\n00:00,Age,54\n00:07,HR,73\n00:37,HR,77\n01:12,Temp,37.4\n"
PIECE = [[60, 64, 67], [60, 64, 67], [62, 65, 69], [59, 62, 67]]


def wav_bytes(samples: np.ndarray, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1), out.setsampwidth(2), out.setframerate(rate)
        out.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return buffer.getvalue()


def speech_wav(data_dir) -> bytes:
    return (data_dir / "fsdd" / "recordings" / "7_george_3.wav").read_bytes()


def without_nulls(value):
    """An HTTP answer without the optional fields it sends as null (the pipeline leaves them out)."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def assert_same(got, expected, where="answer"):
    """The same structure and values; floats equal to 1e-5 (a batch of one and a merged batch may round apart)."""
    if isinstance(expected, dict):
        assert isinstance(got, dict) and got.keys() == expected.keys(), f"{where}: {got} != {expected}"
        for key in expected:
            assert_same(got[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), f"{where}: {got} != {expected}"
        for i, (g, e) in enumerate(zip(got, expected)):
            assert_same(g, e, f"{where}[{i}]")
    elif isinstance(expected, float):
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-6), f"{where}: {got} != {expected}"
    else:
        assert got == expected, f"{where}: {got!r} != {expected!r}"


def requests(data_dir):
    """(task, pipeline call, endpoint, body) for one request per task, every option that changes the answer set."""
    audio = speech_wav(data_dir)
    return [
        ("sentiment", lambda p: p(["a gorgeous, witty film", "boilerplate clichés"]), "/sentiment",
         {"texts": ["a gorgeous, witty film", "boilerplate clichés"]}),
        ("generation", lambda p: p("ROMEO:", max_new_tokens=40, temperature=0.7, top_k=20, top_p=0.9, seed=11),
         "/generate", {"prompt": "ROMEO:", "max_new_tokens": 40, "temperature": 0.7, "top_k": 20, "top_p": 0.9,
                       "seed": 11}),
        ("forecasting", lambda p: p(closes(80), horizon=4), "/stock_forecast", {"closes": closes(80), "horizon": 4}),
        ("vitals", lambda p: p(record=RECORD), "/vitals", {"record": RECORD}),
        ("music", lambda p: p(PIECE, steps=12, temperature=0.9, seed=5), "/music/generate",
         {"primer": PIECE, "steps": 12, "temperature": 0.9, "seed": 5}),
        ("speech", lambda p: p(audio), "/transcribe", {"audio": base64.b64encode(audio).decode()}),
        ("translation", lambda p: p(["Zwei Hunde spielen im Schnee."], beam_size=3, attention=True), "/translate",
         {"texts": ["Zwei Hunde spielen im Schnee."], "beam_size": 3, "attention": True}),
    ]


def test_every_task_registers_a_pipeline():
    assert all(issubclass(task.pipeline, Pipeline) for task in TASKS.values())


@pytest.mark.parametrize("index", range(len(TASKS)))
def test_a_pipeline_answers_as_its_endpoint_does(api, data_dir, index):
    task, call, path, body = requests(data_dir)[index]
    pipeline = zoo.pipeline(task)
    assert pipeline.model == zoo.best_model(task) and pipeline.card.task == task
    status, answer = api.post(path, body)
    assert status == 200, answer
    assert_same(call(pipeline), without_nulls(answer))


def test_the_music_pipeline_scores_as_the_endpoint(api):
    pipeline = zoo.pipeline("music", model="jsb-gru")
    status, answer = api.post("/music/score", {"pieces": [PIECE, PIECE[:2]], "model": "jsb-gru"})
    assert status == 200 and pipeline.score([PIECE, PIECE[:2]]) == answer


def test_the_speech_pipeline_takes_a_path_bytes_or_samples_at_any_rate(data_dir):
    pipeline = zoo.pipeline("speech")
    path = data_dir / "fsdd" / "recordings" / "7_george_3.wav"
    from_path = pipeline(path)
    assert from_path["text"] == "7" and from_path == pipeline(path.read_bytes()) == pipeline(str(path))
    with wave.open(str(path)) as recording:
        samples = np.frombuffer(recording.readframes(recording.getnframes()), "<i2") / 32768.0
    assert pipeline(samples, sample_rate=8000)["text"] == "7"


@pytest.mark.parametrize("task, call, message", [
    ("sentiment", lambda p: p([]), "non-empty list"),
    ("sentiment", lambda p: p([3]), "must be strings"),
    ("sentiment", lambda p: p(["x" * 5000]), "the maximum is"),
    ("generation", lambda p: p("ROMEO:", temperature=0), "temperature is 0; allowed: (0, 2]"),
    ("generation", lambda p: p("ROMEO:", max_new_tokens=2.5), "max_new_tokens must be an integer"),
    ("generation", lambda p: p("ROMEO ☃"), "not in this model's vocabulary"),
    ("generation", lambda p: p("ROMEO:", top_p=1.5), "top_p is 1.5; allowed: (0, 1]"),
    ("forecasting", lambda p: p([1.0, 2.0, 3.0]), "at least 61 daily closes"),
    ("forecasting", lambda p: p(["a"] * 70), "must be a list of numbers"),
    ("forecasting", lambda p: p(closes(70), horizon=99), "allowed: 1 to"),
    ("vitals", lambda p: p(), "send exactly one of"),
    ("vitals", lambda p: p(observations=[("00:00", "Age", 54)]), "no time series observations"),
    ("vitals", lambda p: p(observations=[{"time": "00:07"}]), "(time, parameter, value)"),
    ("music", lambda p: p([[200]]), "pitch 200 is off the 88-key piano roll"),
    ("music", lambda p: p(steps=0), "steps is 0; allowed: [1, 2000]"),
    ("music", lambda p: p.score([[]]), "piece 0 has no frames"),
    ("speech", lambda p: p(b"not audio"), "not a WAV file"),
    ("speech", lambda p: p(wav_bytes(np.zeros(61 * 8000))), "the maximum is 60 s"),
    ("speech", lambda p: p(np.zeros(800, np.float32)), "sample_rate"),
    ("translation", lambda p: p("Ein Hund.", beam_size=11), "beam_size is 11; allowed: [1, 10]"),
    ("translation", lambda p: p(""), "empty"),
])
def test_bad_input_raises_input_error_saying_what_is_allowed(task, call, message):
    with pytest.raises(InputError) as raised:
        call(zoo.pipeline(task))
    assert message in str(raised.value)


def test_load_verifies_and_opens_a_shipped_model_and_names_the_valid_ones_otherwise():
    predictor = zoo.load("stock-gru")
    assert predictor.name == "stock-gru" and predictor.session is not None
    with pytest.raises(zoo.UnknownModelError, match="valid names: .*sst2-lstm"):
        zoo.load("sst2-transformer")
    with pytest.raises(ArtifactError, match="registered but has no artifact"):
        zoo.load("test-sst2-gru")
    with pytest.raises(ValueError, match="unknown task 'poetry'"):
        zoo.pipeline("poetry")
    with pytest.raises(ValueError, match="stock-gru is a forecasting model, not sentiment"):
        zoo.pipeline("sentiment", model="stock-gru")


def test_list_models_filters_by_task_and_by_whether_the_model_ships():
    shipped, others = zoo.list_models(shipped=True), zoo.list_models(shipped=False)
    assert "sst2-lstm" in shipped and "test-sst2-gru" in others and not set(shipped) & set(others)
    assert sorted(shipped + others) == zoo.list_models(shipped=None)
    assert zoo.list_models("speech") == ["digits-gru", "digits-lstm", "digits-rnn"]
    assert "digits-bigru" in zoo.list_models("speech", shipped=False)  # trainable, not shipped


def test_check_option_says_the_allowed_range():
    assert check_option("top_k", None, 1, optional=True) is None
    with pytest.raises(InputError, match=r"temperature is -1; allowed: \(0, 2\]"):
        check_option("temperature", -1, 0, 2, above=True)
    with pytest.raises(InputError, match="seed must be an integer"):
        check_option("seed", True, 0, integer=True)


def test_pipelines_need_no_torch_and_no_training_code():
    """A fresh interpreter in which torch, scikit-learn, scipy and training/ cannot be imported runs every task's
    pipeline: the base install (no `train` extra) is enough."""
    import subprocess
    import sys

    script = ("import sys\n"
              "for name in ('torch', 'sklearn', 'scipy', 'training'): sys.modules[name] = None\n"
              "import zoo\n"
              "from zoo.tasks import TASKS\n"
              "for task in TASKS: zoo.pipeline(task)\n"
              "print(zoo.pipeline('sentiment')(['a gorgeous film'])['predictions'][0]['label'])\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout.strip() == "positive", result.stderr[-2000:]
