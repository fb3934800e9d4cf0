"""The KServe V2 (Open Inference Protocol) endpoints, called with tritonclient, a client nobody here wrote,
and checked against the task endpoints on the same inputs. (Bad tensors get their 4xx in process, in
tests/service/test_api.py.)"""
import numpy as np
import pytest

from tests.helpers import post

pytestmark = pytest.mark.http

httpclient = pytest.importorskip("tritonclient.http")


@pytest.fixture(scope="module")
def client(server):
    return httpclient.InferenceServerClient(url=server.removeprefix("http://"))


def tensor(name: str, values: np.ndarray):
    datatype = {np.dtype(np.int64): "INT64", np.dtype(np.float32): "FP32"}[values.dtype]
    item = httpclient.InferInput(name, list(values.shape), datatype)
    item.set_data_from_numpy(values, binary_data=False)  # JSON tensors: the protocol's core
    return item


def test_health_metadata_and_readiness(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("sst2-lstm") and client.is_model_ready("sst2-lstm", "1.0.0")
    metadata = client.get_model_metadata("shakespeare-lstm")
    assert metadata["versions"] == ["1.0.0"]
    assert [(i["name"], i["datatype"]) for i in metadata["inputs"]] == [("tokens", "INT64"), ("h0", "FP32"), ("c0", "FP32")]
    assert [o["name"] for o in metadata["outputs"]] == ["logits", "hN", "cN"]


def test_sentiment_logits_match_the_sentiment_endpoint(client, server):
    from zoo.artifacts import ARTIFACTS_DIR
    from zoo.tasks.sentiment.predictor import SentimentPredictor

    texts = ["a gorgeous, witty, seductive movie.", "the plot is nothing but boilerplate clichés", "fine"]
    tokenizer = SentimentPredictor(ARTIFACTS_DIR / "sst2-gru", with_session=False).tokenizer
    batch = tokenizer.pad(tokenizer.encode(texts))
    result = client.infer("sst2-gru", [tensor("token_ids", batch.token_ids), tensor("lengths", batch.lengths)],
                          outputs=[httpclient.InferRequestedOutput("logits", binary_data=False)])
    logits = result.as_numpy("logits")
    positive = np.exp(logits[:, 1]) / np.exp(logits).sum(axis=1)
    served = post(f"{server}/sentiment", {"texts": texts, "model": "sst2-gru"})[1]["predictions"]
    np.testing.assert_allclose(positive, [p["positive"] for p in served], atol=1e-5)


def test_generation_state_tensors_go_in_and_out(client):
    tokens = np.array([[18, 27, 25, 17, 27]], dtype=np.int64)  # "ROMEO"-like ids
    state = np.zeros((2, 1, 512), dtype=np.float32)
    whole = client.infer("shakespeare-gru", [tensor("tokens", tokens), tensor("h0", state)])
    first = client.infer("shakespeare-gru", [tensor("tokens", tokens[:, :3]), tensor("h0", state)])
    rest = client.infer("shakespeare-gru", [tensor("tokens", tokens[:, 3:]), tensor("h0", first.as_numpy("hN"))])
    # carrying the state across two calls gives what one call over the whole sequence gives
    np.testing.assert_allclose(rest.as_numpy("logits"), whole.as_numpy("logits")[:, 3:], atol=1e-4)
    assert whole.as_numpy("hN").shape == (2, 1, 512)


def test_speech_features_give_the_logits_transcribe_decodes(client, server, data_dir):
    import base64

    from tests.training.test_speech import wav
    from training.speech.data import load_recordings, split
    from zoo.artifacts import ARTIFACTS_DIR
    from zoo.tasks.speech.ctc import greedy_digits
    from zoo.tasks.speech.predictor import SpeechPredictor

    recording = split(load_recordings(data_dir))["test"][42]
    predictor = SpeechPredictor(ARTIFACTS_DIR / "digits-gru", ["CPUExecutionProvider"])
    steps = predictor.features(recording.samples)[None]  # (1, S, 120): the card's features input
    result = client.infer("digits-gru", [tensor("features", steps), tensor("h0", predictor.initial_state(1)[0])])
    logits = result.as_numpy("logits")
    assert logits.shape == (1, len(steps[0]), 11)
    served = post(f"{server}/transcribe", {"audio": base64.b64encode(wav(recording.samples)).decode(),
                                           "model": "digits-gru"})[1]
    assert [d.digit for d in greedy_digits(logits[0])] == [d["digit"] for d in served["digits"]]


def test_a_translator_serves_its_encoder_beside_its_decoder_step(client, server):
    from zoo import list_models
    from zoo.artifacts import ARTIFACTS_DIR
    from zoo.tasks.translation.predictor import TranslationPredictor

    if not list_models("translation"):
        pytest.skip("no translation model is shipped yet")
    name = list_models("translation")[0]
    predictor = TranslationPredictor(ARTIFACTS_DIR / name, ["CPUExecutionProvider"])
    (encoded,) = predictor.encode(["Zwei Hunde spielen im Schnee."])
    source, lengths = np.array([encoded.ids], dtype=np.int64), np.array([len(encoded.ids)], dtype=np.int64)
    assert [i["name"] for i in client.get_model_metadata(f"{name}.encoder")["inputs"]] == ["source", "lengths"]
    encoder = client.infer(f"{name}.encoder", [tensor("source", source), tensor("lengths", lengths)])
    memory, keys, h0 = (encoder.as_numpy(n) for n in ("memory", "keys", "h0"))
    step = client.infer(name, [tensor("tokens", np.array([[2]], dtype=np.int64)), tensor("memory", memory),
                               tensor("keys", keys), tensor("source_lengths", lengths),
                               tensor("rows", np.array([0], dtype=np.int64)), tensor("h0", h0)])
    local_memory, local_keys, _, local_state = predictor.encoder([encoded])
    logits, _, _ = predictor.decoder_step(np.array([[2]], dtype=np.int64), local_memory, local_keys, lengths,
                                          np.array([0], dtype=np.int64), local_state)
    np.testing.assert_allclose(step.as_numpy("logits"), logits, atol=1e-4)  # BOS in: the first subword's scores


def served_graphs() -> list[tuple[str, str, str | None]]:
    """(name the protocol serves, model folder, graph role or None) of every shipped model and second graph."""
    from zoo import list_models
    from zoo.artifacts import ARTIFACTS_DIR
    from zoo.cards import ModelCard

    found = []
    for name in list_models():
        found.append((name, name, None))
        found += [(f"{name}.{graph.role}", name, graph.role) for graph in ModelCard.load(ARTIFACTS_DIR / name).graphs]
    return found


@pytest.mark.parametrize("served, folder, role", served_graphs())
def test_tritonclient_with_its_defaults_gets_every_models_outputs(client, served, folder, role):
    """The binary tensor extension: tritonclient's defaults send every input as bytes and, asking for no output
    in particular, get every output as bytes; the numbers are onnxruntime's for the same feeds."""
    from zoo.artifacts import ARTIFACTS_DIR, create_session
    from zoo.cards import ModelCard
    from zoo.checks import example_inputs

    card = ModelCard.load(ARTIFACTS_DIR / folder)
    card = card.graph(role) if role else card
    feeds = example_inputs(card, batch=2, steps=5, rng=np.random.default_rng(0))
    inputs = []
    for name, values in feeds.items():
        inputs.append(httpclient.InferInput(name, list(values.shape), {np.int64: "INT64", np.float32: "FP32"}[values.dtype.type]))
        inputs[-1].set_data_from_numpy(values)  # binary_data=True: the default
    result = client.infer(served, inputs)
    session = create_session((ARTIFACTS_DIR / folder / card.export.onnx_file).read_bytes(), ["CPUExecutionProvider"])
    expected = session.run(None, feeds)
    for output, values in zip(session.get_outputs(), expected):
        assert result.get_output(output.name)["parameters"]["binary_data_size"] == values.nbytes
        np.testing.assert_allclose(result.as_numpy(output.name), values, rtol=1e-5, atol=1e-5)


def test_binary_and_json_tensors_mix_in_one_request(client):
    tokens = np.array([[18, 27, 25]], dtype=np.int64)
    binary = httpclient.InferInput("tokens", [1, 3], "INT64")
    binary.set_data_from_numpy(tokens)
    json_state = tensor("h0", np.zeros((2, 1, 512), dtype=np.float32))
    outputs = [httpclient.InferRequestedOutput("logits", binary_data=False), httpclient.InferRequestedOutput("hN")]
    mixed = client.infer("shakespeare-gru", [binary, json_state], outputs=outputs)
    plain = client.infer("shakespeare-gru", [tensor("tokens", tokens), json_state])
    assert "data" in mixed.get_output("logits") and "binary_data_size" in mixed.get_output("hN")["parameters"]
    np.testing.assert_allclose(mixed.as_numpy("logits"), plain.as_numpy("logits"), atol=1e-6)
    np.testing.assert_allclose(mixed.as_numpy("hN"), plain.as_numpy("hN"), atol=1e-6)
