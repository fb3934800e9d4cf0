"""Forecasting preprocessing and model (zoo/tasks/forecasting/): the closes check and its errors, scale-free
features, prices from log returns, quantiles that never cross, the registration, and a property-based test
(hypothesis) of the closes check."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers import PROPERTY_SETTINGS, walk
from zoo import create_model, list_models
from zoo.tasks.forecasting.features import (
    FEATURES,
    HORIZONS,
    MAX_CLOSES,
    QUANTILES,
    WINDOW,
    FeatureStatistics,
    ForecastInputError,
    check_closes,
    features,
    raw_features,
    to_prices,
)

UNIT = FeatureStatistics(mean=(0.0,) * len(FEATURES), std=(1.0,) * len(FEATURES))


@pytest.mark.parametrize("closes, message", [
    (list(walk(WINDOW)), f"needs at least {WINDOW + 1} daily closes"),
    (list(walk(MAX_CLOSES + 1)), f"at most {MAX_CLOSES} are accepted"),
    ([*walk(70)[:30], float("nan"), *walk(70)[31:]], "closes[30] is nan; every close must be a finite price > 0"),
    ([*walk(70)[:5], float("inf"), *walk(70)[6:]], "closes[5] is inf"),
    ([*walk(70)[:69], 0.0], "closes[69] is 0.0"),
    ([-1.0, *walk(70)[1:]], "closes[0] is -1.0"),
])
def test_bad_closes_are_refused_with_what_is_allowed(closes, message):
    with pytest.raises(ForecastInputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_closes(closes)


def test_features_are_scale_free_and_read_only_the_window():
    closes = walk(WINDOW + 1)
    base, scale = features(np.log(closes)[None, :], UNIT)
    tenfold, scale10 = features(np.log(closes * 10)[None, :], UNIT)
    np.testing.assert_allclose(base, tenfold, atol=1e-5)  # $5 or $50 stock: the same input
    assert scale == pytest.approx(scale10)
    assert base.shape == (1, WINDOW, len(FEATURES)) and base.dtype == np.float32
    values, _ = raw_features(np.log(closes)[None, :])
    assert values[0, :, 0].std() == pytest.approx(1.0)  # returns in units of the window's volatility
    flat, flat_scale = raw_features(np.zeros((1, WINDOW + 1)))  # a constant price: floor, not a division by 0
    assert np.isfinite(flat).all() and flat_scale[0] > 0


def test_prices_come_back_in_order_from_ordered_log_returns():
    prices = to_prices(100.0, np.array([[-0.02, 0.0, 0.03]]))
    assert prices[0].tolist() == pytest.approx([100 * math.exp(-0.02), 100.0, 100 * math.exp(0.03)])


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_quantiles_never_cross_even_after_calibration(cell):
    torch.manual_seed(0)
    model = create_model(f"test-stock-{cell}").eval()
    inputs = torch.randn(64, WINDOW, len(FEATURES)) * 3
    for scale in (torch.ones(HORIZONS), torch.full((HORIZONS,), 0.05), torch.full((HORIZONS,), 20.0)):
        model.gap_scale.copy_(scale)
        quantiles = model(inputs)
        assert quantiles.shape == (64, HORIZONS, len(QUANTILES))
        assert (quantiles.diff(dim=2) >= 0).all()


def test_every_stock_model_is_registered_for_every_cell():
    names = [n for n in list_models("forecasting", shipped=None) if not n.startswith("test-")]
    assert names == ["stock-gru", "stock-lstm", "stock-rnn"]


# --- properties (hypothesis) ------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 10**9)), max_size=200))
def test_closes_are_read_or_refused_with_the_reason(closes):
    try:
        checked = check_closes(closes, window=60, max_closes=150)
    except ForecastInputError as error:
        assert str(error)
        return
    assert 61 <= len(checked) <= 150 and np.all(np.isfinite(checked)) and np.all(checked > 0)
