"""Every shipped artifact: present, small, untampered, and re-measured against its card on real data."""
import numpy as np
import pytest

from training.forecasting.data import load_stocks
from training.forecasting.evaluation import evaluate as evaluate_stock
from training.forecasting.windows import make_windows
from training.generation.data import load_tinyshakespeare
from training.generation.export import NGRAM_ORDER, SAMPLE
from training.generation.ngram import KneserNey
from training.sentiment.data import load_sst2
from training.sentiment.export import majority_class
from training.vitals.data import load_physionet
from training.vitals.evaluation import evaluate as evaluate_vitals
from zoo import get_spec, list_models
from zoo.artifacts import ARTIFACTS_DIR
from zoo.cards import MODEL_FILE, ModelCard, sha256_of
from zoo.registry import get_task
from zoo.tasks.forecasting.predictor import ForecastingPredictor
from zoo.tasks.generation.predictor import GenerationPredictor
from zoo.tasks.sentiment.predictor import SentimentPredictor
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import parse_record_text

MAX_BYTES = 10 * 1024 * 1024


@pytest.mark.parametrize("name", list_models())
def test_artifact_is_complete_small_and_matches_its_card(name):
    directory = ARTIFACTS_DIR / name
    card = ModelCard.load(directory)
    assert card.name == name and card.task == get_spec(name).task
    assert sha256_of(directory / MODEL_FILE) == card.export.sha256
    if card.preprocessing.tokenizer_file:  # text models; numeric ones keep their statistics on the card
        assert sha256_of(directory / card.preprocessing.tokenizer_file) == card.preprocessing.tokenizer_sha256
    for figure in card.figures:
        assert (directory / figure).read_bytes()[:4] == b"\x89PNG"
    assert (directory / MODEL_FILE).stat().st_size == card.export.size_bytes < MAX_BYTES
    assert card.architecture.cell == get_spec(name).arguments["cell"]
    assert card.export.parity_max_abs_diff <= card.export.parity_tolerance
    for graph in card.graphs:  # a translator's encoder: its own file, checksum and parity
        assert sha256_of(directory / graph.export.onnx_file) == graph.export.sha256
        assert (directory / graph.export.onnx_file).stat().st_size == graph.export.size_bytes < MAX_BYTES
        assert graph.export.parity_vectors is not None


@pytest.mark.parametrize("name", list_models("sentiment"))
def test_sentiment_card_metrics_are_reproduced_by_onnxruntime(name, data_dir):
    card = ModelCard.load(ARTIFACTS_DIR / name)
    dev = load_sst2("dev", data_dir)
    predicted = SentimentPredictor(ARTIFACTS_DIR / name, ["CPUExecutionProvider"]).probabilities(dev.texts).argmax(1)
    labels = np.array(dev.labels)
    metric = card.metric("accuracy")
    assert metric.examples == len(labels) == 872
    assert abs((predicted == labels).mean() - metric.value) <= 1e-3
    majority = majority_class(load_sst2("train", data_dir).labels)
    assert abs((labels == majority).mean() - metric.baseline_value) <= 1e-3
    assert metric.value > metric.baseline_value + 0.2  # a model that barely beats the baseline is not shipped


@pytest.fixture(scope="module")
def kneser_ney_validation_loss(data_dir) -> float:
    """The n-gram baseline on the validation split, computed once for every generation card."""
    return KneserNey(load_tinyshakespeare("train", data_dir), NGRAM_ORDER).nats_per_char(
        load_tinyshakespeare("validation", data_dir))


@pytest.mark.parametrize("name", list_models("generation"))
def test_generation_card_metrics_are_reproduced_by_onnxruntime(name, data_dir, kneser_ney_validation_loss):
    card = ModelCard.load(ARTIFACTS_DIR / name)
    validation = load_tinyshakespeare("validation", data_dir)
    loss = card.metric("validation_loss_nats_per_char")
    assert loss.examples == len(validation) - 1
    measured = GenerationPredictor(ARTIFACTS_DIR / name, ["CPUExecutionProvider"]).nats_per_char(validation)
    assert abs(measured - loss.value) <= 1e-3
    assert abs(kneser_ney_validation_loss - loss.baseline_value) <= 1e-3
    assert loss.value < loss.baseline_value  # a model that loses to the n-gram is not shipped
    assert card.samples and card.samples[0].startswith(SAMPLE["prompt"])


@pytest.fixture(scope="module")
def stock_series():
    return load_stocks()


@pytest.mark.parametrize("name", list_models("forecasting"))
def test_forecasting_card_metrics_are_reproduced_by_onnxruntime_and_meet_the_targets(name, stock_series):
    card = ModelCard.load(ARTIFACTS_DIR / name)
    measured = evaluate_stock(ForecastingPredictor(ARTIFACTS_DIR / name, ["CPUExecutionProvider"]), stock_series,
                              make_windows(stock_series, "test"), make_windows(stock_series, "train"))
    assert len(measured.metrics) == len(card.metrics)
    for metric, again in zip(card.metrics, measured.metrics):
        assert (metric.name, metric.examples) == (again.name, again.examples)
        assert again.value == pytest.approx(metric.value, abs=1e-5)
        assert again.baseline_value == pytest.approx(metric.baseline_value, abs=1e-5)
    assert 0.77 <= card.metric("coverage_80").value <= 0.83  # calibrated, or not shipped
    assert card.metric("mae_ratio_to_random_walk").value <= 1.02
    assert card.metric("mase_median").value <= card.metric("mase_median").baseline_value * 1.02
    pinball = card.metric("pinball_loss")
    assert pinball.value <= pinball.baseline_value  # no worse than the random walk, or not shipped


@pytest.fixture(scope="module")
def physionet(data_dir):
    sets = {name: load_physionet(name, data_dir) for name in ("set-a", "set-b")}
    return {name: (stays, [parse_record_text(s.record_text) for s in stays]) for name, stays in sets.items()}


@pytest.mark.parametrize("name", list_models("vitals"))
def test_vitals_card_metrics_are_reproduced_by_onnxruntime_and_meet_the_targets(name, physionet):
    card = ModelCard.load(ARTIFACTS_DIR / name)
    (train_stays, train_records), (test_stays, test_records) = physionet["set-a"], physionet["set-b"]
    measured = evaluate_vitals(VitalsPredictor(ARTIFACTS_DIR / name, ["CPUExecutionProvider"]), train_records,
                               np.array([s.died for s in train_stays]), test_records,
                               np.array([s.died for s in test_stays]), np.array([s.saps1 for s in test_stays]))
    assert [m.name for m in measured.metrics] == [m.name for m in card.metrics]
    for metric, again in zip(card.metrics, measured.metrics):
        assert again.examples == metric.examples
        assert again.value == pytest.approx(metric.value, abs=1e-4)
        assert again.baseline_value == pytest.approx(metric.baseline_value, abs=1e-4)
    assert card.metric("mortality_auroc").value >= 0.85  # the floor for a shipped model
    assert card.metric("mortality_auroc_vs_saps1").value > card.metric("mortality_auroc_vs_saps1").baseline_value
    for vital in ("HR", "MAP", "SaO2", "RespRate", "Temp"):
        forecast = card.metric(f"next_hour_mae_{vital}")
        assert forecast.value <= forecast.baseline_value  # never worse than carrying forward
    hr = card.metric("next_hour_mae_HR")
    assert hr.value <= 0.97 * hr.baseline_value


@pytest.mark.parametrize("name", [n for n in list_models() if get_spec(n).quantized_from])
def test_int8_variants_record_their_source_and_stay_within_tolerance(name):
    """The card's quantization record matches the source's card and this card's own (re-measured) metric."""
    card, spec = ModelCard.load(ARTIFACTS_DIR / name), get_spec(name)
    source = ModelCard.load(ARTIFACTS_DIR / spec.quantized_from)
    task = get_task(card.task)  # training.quantize reads the headline metric and tolerance from the task
    record = card.quantization
    assert record is not None and record.source == spec.quantized_from and record.within_tolerance
    assert record.metric == task.headline_metric
    assert record.source_value == source.metric(record.metric).value
    assert record.value == card.metric(record.metric).value
    assert task.within_int8_tolerance(record.source_value, record.value)[0]
    assert card.export.size_bytes < source.export.size_bytes  # int8 weights: a smaller file
    assert [m.name for m in card.metrics] == [m.name for m in source.metrics]
    for metric, reference in zip(card.metrics, source.metrics):  # the same split and baseline as the source
        assert (metric.split, metric.baseline, metric.baseline_value, metric.examples) == (
            reference.split, reference.baseline, reference.baseline_value, reference.examples)
