import json

import pytest

from zoo.cards import (
    Architecture,
    CardError,
    Export,
    Metric,
    ModelCard,
    Preprocessing,
    TensorSpec,
    TrainingData,
    TrainingRun,
)


def make_card() -> ModelCard:
    return ModelCard(
        name="sst2-gru", version="1.0.0", task="sentiment", summary="s",
        architecture=Architecture("gru", 1, 8, True, 8, 100, 1234),
        inputs=[TensorSpec("token_ids", "int64", ["batch", "sequence"], "ids")],
        outputs=[TensorSpec("logits", "float32", ["batch", 2], "scores")],
        preprocessing=Preprocessing("tokenizer.json", "ab" * 32, 1000, ["negative", "positive"], "n"),
        training_data=TrainingData("SST-2", "url", "lic", "train", "dev"),
        metrics=[Metric("accuracy", "dev", 0.9, "majority", 0.5, 872)],
        training=TrainingRun(12.5, "cpu", 3, 1, "python -m x", {"lr": 0.001}),
        export=Export("model.onnx", "cd" * 32, 17, "torchscript", 1e-7, 1e-4, 1000),
        intended_use="demo", limitations=["english"],
    )


def test_round_trip_through_json(tmp_path):
    card = make_card()
    card.save(tmp_path)
    assert ModelCard.load(tmp_path) == card
    assert json.loads((tmp_path / "card.json").read_text())["architecture"]["cell"] == "gru"


def test_metric_lookup_names_the_alternatives():
    card = make_card()
    assert card.metric("accuracy").value == 0.9
    with pytest.raises(KeyError, match="accuracy"):
        card.metric("f1")


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("export"), "missing key 'export'"),
    (lambda d: d.update(extra=1), "unknown keys"),
    (lambda d: d["architecture"].update(hidden_size="big"), "architecture.hidden_size should be int"),
    (lambda d: d["metrics"][0].update(value=True), "should be float, got bool"),
    (lambda d: d.update(limitations="none"), "limitations should be a list"),
])
def test_malformed_cards_are_refused_with_the_path(tmp_path, mutate, message):
    data = make_card().to_dict()
    mutate(data)
    (tmp_path / "card.json").write_text(json.dumps(data))
    with pytest.raises(CardError, match=message):
        ModelCard.load(tmp_path)


def test_missing_and_invalid_json_cards(tmp_path):
    with pytest.raises(CardError, match="missing"):
        ModelCard.load(tmp_path)
    (tmp_path / "card.json").write_text("{not json")
    with pytest.raises(CardError, match="not valid JSON"):
        ModelCard.load(tmp_path)
