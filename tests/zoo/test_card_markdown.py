"""Model cards for people (issue 21): every shipped model has a README.md beside its card.json, generated from the
card, current, with Hugging Face front matter (license, datasets, metrics as model-index, library_name)."""
import pytest
import yaml

from zoo.artifacts import ARTIFACTS_DIR
from zoo.card_markdown import README_FILE, markdown
from zoo.cards import ModelCard
from zoo.registry import list_models

LICENSES = {"apache-2.0", "cc-by-sa-4.0", "other"}  # what the zoo's data allows (training/<task>/data.py)


@pytest.mark.parametrize("name", list_models())
def test_every_shipped_model_has_its_card_as_a_current_readme(name):
    card = ModelCard.load(ARTIFACTS_DIR / name)
    text = (ARTIFACTS_DIR / name / README_FILE).read_text()
    assert text == markdown(card), "run: python -m zoo.leaderboard --write"
    meta = yaml.safe_load(text.split("---\n")[1])
    assert meta["license"] == card.weights_license in LICENSES and meta["library_name"] == "onnx"
    assert card.weights_license_terms and (meta["license"] != "other" or meta["license_name"])
    assert meta["datasets"] == [card.training_data.dataset]
    results = meta["model-index"][0]["results"]
    reported = {(r["dataset"]["split"], m["type"]): m["value"] for r in results for m in r["metrics"]}
    assert reported == {(m.split, m.name): m.value for m in card.metrics}
    for section in ("## Intended use", "## Limitations", "## Training data", "## Training", "## Evaluation",
                    "## Export", "## License", "## Use"):
        assert section in text
    assert all(f"![{figure}]({figure})" in text for figure in card.figures)
    assert all(f"| {m.name} |" in text or f"| **{m.name}** |" in text for m in card.metrics)
