"""Forecasting training: daily prices, walk-forward windows, quantile training with calibration, export and
the evaluation against naive forecasts."""
