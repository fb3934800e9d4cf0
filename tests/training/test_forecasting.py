"""Forecasting training: walk-forward splits, the pinball loss, calibration, the random-walk baseline, ONNX
parity and a tiny training run."""
import numpy as np
import pytest
import torch

import training.forecasting.train as train_forecasting
from tests.helpers import walk
from training.forecasting.data import STOCK_SPLITS, load_stocks
from training.forecasting.evaluation import pinball, random_walk_quantiles
from training.forecasting.export import export_onnx
from training.forecasting.windows import Windows, make_windows
from zoo import create_model
from zoo.artifacts import create_session
from zoo.cards import ModelCard
from zoo.tasks.forecasting.features import FEATURES, HORIZONS, QUANTILES, WINDOW
from zoo.tasks.forecasting.predictor import ForecastingPredictor


@pytest.fixture(scope="module")
def series():
    return load_stocks()


def test_splits_are_walk_forward_and_no_target_crosses_a_boundary(series):
    for split in ("train", "validation", "test"):
        windows = make_windows(series, split)
        start, end = (np.datetime64(day) for day in STOCK_SPLITS[split])
        dates = {t: series[t].dates for t in series}
        anchors = np.array([dates[t][i] for t, i in zip(windows.tickers, windows.anchor_index)])
        last_targets = np.array([dates[t][i + HORIZONS] for t, i in zip(windows.tickers, windows.anchor_index)])
        assert anchors.min() >= start and last_targets.max() <= end
        assert windows.log_closes.shape == (len(windows), WINDOW + 1)
        first = windows.anchor_index[0]
        ticker = windows.tickers[0]
        expected = np.log(series[ticker].closes[first + 1 : first + 1 + HORIZONS] / series[ticker].closes[first])
        np.testing.assert_allclose(windows.targets[0], expected)


def test_mase_is_scaled_by_the_naive_forecasts_in_sample_error():
    from training.forecasting.evaluation import mase

    train = np.array([[0.01, -0.02], [-0.03, 0.04]])  # (N, H): in-sample naive MAE 0.02 at h=1, 0.03 at h=2
    test = np.array([[0.02, 0.03], [-0.02, -0.03]])
    assert mase(np.zeros_like(test), test, train) == pytest.approx((0.02 / 0.02 + 0.03 / 0.03) / 2)
    assert mase(test, test, train) == 0.0


def test_pinball_loss_of_the_true_quantiles_beats_a_shifted_guess():
    rng = np.random.default_rng(0)
    targets = rng.normal(0, 1, (4000, 1))
    levels = [0.1, 0.5, 0.9]
    true = np.broadcast_to(np.array([-1.2816, 0.0, 1.2816]), (4000, 1, 3))
    assert pinball(true, targets, levels) < pinball(true + 0.5, targets, levels)
    assert pinball(true, targets, levels) < pinball(true * 2, targets, levels)
    torch_value = train_forecasting.pinball_loss(torch.tensor(true), torch.tensor(targets), torch.tensor(levels)).item()
    assert torch_value == pytest.approx(pinball(true, targets, levels))


def test_calibration_brings_the_interval_to_80_percent():
    torch.manual_seed(0)
    model = create_model("test-stock-gru").eval()
    inputs = torch.randn(500, WINDOW, len(FEATURES))
    scale = torch.ones(500)
    targets = torch.randn(500, HORIZONS) * 3  # far wider than the untrained model's quantiles
    train_forecasting.calibrate(model, inputs, scale, targets)
    covered = train_forecasting.coverage(train_forecasting.predict_log_returns(model, inputs, scale), targets)
    assert torch.all((covered >= 0.79) & (covered <= 0.82)), covered


def test_the_random_walk_baseline_has_a_zero_median_and_reads_only_the_past(series):
    windows = make_windows(series, "test")
    some = Windows(windows.log_closes[:20], windows.targets[:20], windows.tickers[:20],
                               windows.anchor_index[:20])
    quantiles = random_walk_quantiles(series, some, HORIZONS, list(QUANTILES))
    assert np.abs(quantiles[..., 1]).max() < 1e-12
    assert (np.diff(quantiles, axis=2) >= 0).all()
    ticker = some.tickers[0]
    future = {**series, ticker: type(series[ticker])(ticker, series[ticker].dates, series[ticker].closes.copy())}
    future[ticker].closes[some.anchor_index[0] + 1 :] *= 3  # change everything after the first anchor
    np.testing.assert_array_equal(random_walk_quantiles(future, some, HORIZONS, list(QUANTILES))[0], quantiles[0])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_onnx_matches_torch_at_a_batch_and_window_unlike_the_export_sample(cell, tmp_path):
    torch.manual_seed(0)
    model = create_model(f"test-stock-{cell}").eval()
    model.gap_scale.copy_(torch.linspace(0.5, 2.0, HORIZONS))  # calibration must reach the file
    export_onnx(model, tmp_path / "model.onnx")
    session = create_session((tmp_path / "model.onnx").read_bytes(), ["CPUExecutionProvider"])
    for batch, window in ((1, WINDOW), (37, WINDOW), (5, 90)):
        inputs = np.random.default_rng(batch).normal(size=(batch, window, len(FEATURES))).astype(np.float32)
        (onnx_out,) = session.run(None, {"features": inputs})
        with torch.no_grad():
            np.testing.assert_allclose(onnx_out, model(torch.from_numpy(inputs)).numpy(), atol=1e-5)


def test_tiny_training_run_exports_a_servable_calibrated_model(tmp_path):
    train_forecasting.main(["--model", "test-stock-lstm", "--epochs", "1", "--threads", "1",
                      "--checkpoint-dir", str(tmp_path / "checkpoints"), "--artifacts-dir", str(tmp_path / "artifacts")])
    directory = tmp_path / "artifacts" / "test-stock-lstm"
    card = ModelCard.load(directory)
    assert {m.name for m in card.metrics} == {"pinball_loss", "mase_median", "mae_ratio_to_random_walk",
                                              "mae_median_log_return", "coverage_80", "direction_accuracy_1d"}
    assert all(m.examples > 1000 for m in card.metrics)
    assert card.figures == ["forecast.png"] and (directory / "forecast.png").read_bytes()[:4] == b"\x89PNG"
    assert card.preprocessing.statistics["window"] == WINDOW and len(card.preprocessing.statistics["mean"]) == 3
    forecaster = ForecastingPredictor(directory)
    quantiles = forecaster.log_return_quantiles(walk(WINDOW + 1)[None, :])
    assert quantiles.shape == (1, HORIZONS, len(QUANTILES)) and (np.diff(quantiles, axis=2) >= 0).all()
