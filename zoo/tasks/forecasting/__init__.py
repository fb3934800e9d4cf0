"""Stock forecasting: daily closes -> quantiles of the cumulative log return 1..5 trading days ahead."""
from zoo.task import ModelSpec, Task
from zoo.tasks.forecasting.features import FEATURES, HORIZONS, QUANTILES
from zoo.tasks.forecasting.pipeline import ForecastingPipeline
from zoo.tasks.forecasting.predictor import ForecastingPredictor

NETWORK = "zoo.tasks.forecasting.network:QuantileForecaster"
# Small on purpose: about 8,000 overlapping training windows from four tickers, and a signal that is
# mostly volatility. The window, features and quantiles live in zoo.tasks.forecasting.features.
_SHIPPED = dict(num_features=len(FEATURES), hidden_size=32, num_layers=1, dropout=0.1, horizons=HORIZONS,
                quantiles=QUANTILES)
_MODELS = [spec for cell in ("rnn", "lstm", "gru") for spec in (
    ModelSpec(name=f"stock-{cell}", task=ForecastingPredictor.task, architecture=NETWORK,
              arguments=dict(_SHIPPED, cell=cell),
              description=f"{cell.upper()} quantile forecaster of daily stock log returns, 1 to 5 trading days ahead"),
    ModelSpec(name=f"test-stock-{cell}", task=ForecastingPredictor.task, architecture=NETWORK,
              arguments=dict(_SHIPPED, hidden_size=4, cell=cell), description="tiny test variant", shipped=False),
)]

TASK = Task(
    name=ForecastingPredictor.task, title="Stock forecasting (daily closes)", predictor=ForecastingPredictor,
    pipeline=ForecastingPipeline, headline_metric="pinball_loss", higher_is_better=False,
    int8_tolerance=0.01, int8_tolerance_relative=True,  # +1% of the source's loss
    latency_input="one 60-day window", latency_steps=60, training_unit="epochs",
    # no int8 variant: the stock LSTM is too small to gain (measured in benchmarks/performance.py)
    models=tuple(_MODELS),
)
