"""Daily stock prices from the PyPI package bokeh-sampledata (public domain Quandl WIKI prices), checked
against a pinned sha256, and the walk-forward splits every forecaster is trained and tested on."""
from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from importlib import resources

import numpy as np

from training.data import DataError, sha256_hex

STOCKS_PACKAGE_FILE = "_data/stocks.csv.gz"  # inside the bokeh_sampledata package
STOCKS_SHA256 = "5abadf99b2d394f920120a27de6f0df129859d71d4cfb0bf661bcc99446ab1fd"  # bokeh-sampledata 2026.1
STOCKS_SOURCE = "PyPI package bokeh-sampledata (Quandl WIKI daily prices, adjusted close)"
STOCKS_LICENSE = "public domain (Quandl WIKI prices, as redistributed by bokeh-sampledata)"
# The weights' license follows the data's terms (a Hugging Face license id, and what it asks of users).
WEIGHTS_LICENSE, WEIGHTS_TERMS = "apache-2.0", "trained on public domain prices"
STOCK_TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")  # FB has only 196 days, all inside the test period
# Walk-forward splits shared by every ticker, by the date of the forecast's last target day.
STOCK_SPLITS = {"train": ("2000-01-01", "2009-12-31"), "validation": ("2010-01-01", "2010-12-31"),
                "test": ("2011-01-01", "2013-03-01")}


@dataclass
class PriceSeries:
    ticker: str
    dates: np.ndarray  # (N,) datetime64[D], ascending trading days
    closes: np.ndarray  # (N,) float64 split- and dividend-adjusted closes


def read_stock_csv(payload: bytes) -> dict[str, PriceSeries]:
    rows: dict[str, list[tuple[str, float]]] = {}
    reader = csv.reader(io.StringIO(gzip.decompress(payload).decode("utf-8")))
    header = next(reader)
    if header[:2] != ["Ticker", "Date"] or header[-1] != "Adj Close":
        raise DataError(f"stocks.csv should have Ticker, Date, ..., Adj Close columns, got {header}")
    for line_number, row in enumerate(reader, start=2):
        try:
            rows.setdefault(row[0], []).append((row[1], float(row[-1])))
        except (IndexError, ValueError):
            raise DataError(f"stocks.csv:{line_number} is not 'ticker,date,...,adj_close': {row!r}") from None
    series = {}
    for ticker, values in rows.items():
        values.sort()
        dates = np.array([d for d, _ in values], dtype="datetime64[D]")
        series[ticker] = PriceSeries(ticker, dates, np.array([c for _, c in values]))
    return series


def load_stocks(tickers: tuple[str, ...] = STOCK_TICKERS) -> dict[str, PriceSeries]:
    """Adjusted daily closes per ticker, from the installed bokeh-sampledata, checked against its sha256."""
    try:
        payload = resources.files("bokeh_sampledata").joinpath(STOCKS_PACKAGE_FILE).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise DataError(f"stock prices come from the package bokeh-sampledata ({error}); "
                        "pip install -e '.[train]' installs it") from None
    actual = sha256_hex(payload)
    if actual != STOCKS_SHA256:
        raise DataError(f"bokeh_sampledata/{STOCKS_PACKAGE_FILE} has sha256 {actual}, expected {STOCKS_SHA256}; "
                        "install the version pinned in pyproject.toml")
    series = read_stock_csv(payload)
    missing = [t for t in tickers if t not in series]
    if missing:
        raise DataError(f"stocks.csv has no {missing}; it has {sorted(series)}")
    return {ticker: series[ticker] for ticker in tickers}
