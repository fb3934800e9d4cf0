"""Data directory, checksum-verified downloads and the data-set loaders used by training."""
from __future__ import annotations

import csv
import hashlib
import io
import os
import random
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

DATA_ENV = "RNNZOO_DATA"


class DataError(RuntimeError):
    """Data that is missing, cannot be fetched, or does not match its published checksum."""


@dataclass(frozen=True)
class RemoteFile:
    relative_path: str  # where it lives inside the data directory
    url: str  # canonical source
    sha256: str  # of the file itself (for a zip member, of the member)
    zip_member: str | None = None  # the file inside the downloaded zip, if the source is a zip


SST2_FILES = {
    "train": RemoteFile("sst2/train.tsv", "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
                        "48eac26399f8456935f81dd9e3a745c1430adb6c62e233ccfe22db4a0d15d1d1", "SST-2/train.tsv"),
    "dev": RemoteFile("sst2/dev.tsv", "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
                      "54a9c12c77e402fc14d6a66a506f24d999f596b0176eb777c972cccc2f9cc4b0", "SST-2/dev.tsv"),
}
SST2_LICENSE = "GLUE SST-2, research use; cite Socher et al. 2013 and Wang et al. 2018"

TINY_SHAKESPEARE = RemoteFile(
    "tinyshakespeare/input.txt",
    "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed")
TINY_SHAKESPEARE_LICENSE = "public domain text (Shakespeare), compiled by Andrej Karpathy for char-rnn"
TRAIN_FRACTION = 0.9  # first 90% of characters train, last 10% validate, as nanoGPT's shakespeare_char


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """--data-dir, else $RNNZOO_DATA, else the user cache directory."""
    if override:
        return Path(override)
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "rnnzoo"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(remote: RemoteFile, directory: Path, timeout_s: float = 60.0) -> Path:
    """The local path of `remote`, downloading it first if absent; never returns unverified bytes."""
    target = Path(directory) / remote.relative_path
    if target.exists():
        actual = _sha256(target.read_bytes())
        if actual != remote.sha256:
            raise DataError(f"{target} has sha256 {actual}, expected {remote.sha256}; "
                            f"delete it to download a fresh copy from {remote.url}")
        return target
    try:
        with urllib.request.urlopen(remote.url, timeout=timeout_s) as response:
            payload = response.read()
    except OSError as error:
        raise DataError(f"{target} is absent and downloading {remote.url} failed: {error}. "
                        f"Point {DATA_ENV} or --data-dir at a folder that has {remote.relative_path}") from None
    if remote.zip_member:
        try:
            with zipfile.ZipFile(io.BytesIO(payload)) as archive:
                payload = archive.read(remote.zip_member)
        except (zipfile.BadZipFile, KeyError) as error:
            raise DataError(f"{remote.url} is not a zip holding {remote.zip_member}: {error}") from None
    actual = _sha256(payload)
    if actual != remote.sha256:
        raise DataError(f"download of {remote.url} has sha256 {actual}, expected {remote.sha256}; not using it")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename, so a crash never leaves a half file under the real name.
    with tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as partial:
        partial.write(payload)
    shutil.move(partial.name, target)
    return target


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


def read_sst2_tsv(path: Path) -> LabelledTexts:
    texts, labels = [], []
    with open(path, newline="", encoding="utf-8") as file:
        reader = csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE)
        header = next(reader)
        if header[:2] != ["sentence", "label"]:
            raise DataError(f"{path} should start with a 'sentence<TAB>label' header, got {header}")
        for line_number, row in enumerate(reader, start=2):
            if len(row) != 2 or row[1] not in ("0", "1"):
                raise DataError(f"{path}:{line_number} is not 'sentence<TAB>0|1': {row!r}")
            texts.append(row[0].strip())
            labels.append(int(row[1]))
    return LabelledTexts(texts, labels)


def load_sst2(split: str, directory: Path | None = None) -> LabelledTexts:
    """SST-2 `train` (67,349 phrases) or `dev` (872 sentences, the split the cards report)."""
    if split not in SST2_FILES:
        raise ValueError(f"unknown SST-2 split {split!r}; splits: {sorted(SST2_FILES)}")
    return read_sst2_tsv(fetch(SST2_FILES[split], data_dir(directory)))


def hold_out_sentences(texts: list[str], count: int, seed: int) -> tuple[list[int], list[int]]:
    """Split SST-2 train into (train rows, validation rows) with no sentence on both sides.

    train.tsv holds every phrase of each treebank sentence, so a random phrase split validates on
    fragments of training sentences and flatters the model. Here validation is `count` whole
    sentences (phrases contained in no other phrase), like dev; every phrase that occurs inside
    one of them leaves the training side.
    """
    blob = "\n" + "\n".join(texts) + "\n"
    candidates = [i for i, text in enumerate(texts) if len(text.split()) >= 4]
    random.Random(seed).shuffle(candidates)
    validation: list[int] = []
    for row in candidates:
        if blob.count(texts[row]) == 1:  # occurs only as itself: a whole sentence
            validation.append(row)
            if len(validation) == count:
                break
    held_out = "\n".join(texts[row] for row in validation)
    train = [row for row, text in enumerate(texts) if text not in held_out]
    return train, validation


def load_tinyshakespeare(split: str, directory: Path | None = None) -> str:
    """Tiny Shakespeare's `train` (first 90% of characters) or `validation` (last 10%) text."""
    if split not in ("train", "validation"):
        raise ValueError(f"unknown Tiny Shakespeare split {split!r}; splits: train, validation")
    text = fetch(TINY_SHAKESPEARE, data_dir(directory)).read_text(encoding="utf-8")
    boundary = int(len(text) * TRAIN_FRACTION)
    return text[:boundary] if split == "train" else text[boundary:]


# --- daily stock prices: the PyPI package bokeh-sampledata (public domain Quandl WIKI prices) ------------
STOCKS_PACKAGE_FILE = "_data/stocks.csv.gz"  # inside the bokeh_sampledata package
STOCKS_SHA256 = "5abadf99b2d394f920120a27de6f0df129859d71d4cfb0bf661bcc99446ab1fd"  # bokeh-sampledata 2026.1
STOCKS_SOURCE = "PyPI package bokeh-sampledata (Quandl WIKI daily prices, adjusted close)"
STOCKS_LICENSE = "public domain (Quandl WIKI prices, as redistributed by bokeh-sampledata)"
STOCK_TICKERS = ("AAPL", "GOOG", "IBM", "MSFT")  # FB has only 196 days, all inside the test period
# Walk-forward splits shared by every ticker, by the date of the forecast's last target day.
STOCK_SPLITS = {"train": ("2000-01-01", "2009-12-31"), "validation": ("2010-01-01", "2010-12-31"),
                "test": ("2011-01-01", "2013-03-01")}


@dataclass
class PriceSeries:
    ticker: str
    dates: "np.ndarray"  # (N,) datetime64[D], ascending trading days
    closes: "np.ndarray"  # (N,) float64 split- and dividend-adjusted closes


def read_stock_csv(payload: bytes) -> dict[str, PriceSeries]:
    import gzip

    import numpy as np

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
    from importlib import resources

    try:
        payload = resources.files("bokeh_sampledata").joinpath(STOCKS_PACKAGE_FILE).read_bytes()
    except (ModuleNotFoundError, FileNotFoundError) as error:
        raise DataError(f"stock prices come from the package bokeh-sampledata ({error}); "
                        "pip install -e '.[train]' installs it") from None
    actual = _sha256(payload)
    if actual != STOCKS_SHA256:
        raise DataError(f"bokeh_sampledata/{STOCKS_PACKAGE_FILE} has sha256 {actual}, expected {STOCKS_SHA256}; "
                        "install the version pinned in pyproject.toml")
    series = read_stock_csv(payload)
    missing = [t for t in tickers if t not in series]
    if missing:
        raise DataError(f"stocks.csv has no {missing}; it has {sorted(series)}")
    return {ticker: series[ticker] for ticker in tickers}


# --- ICU stays: PhysioNet/CinC Challenge 2012 --------------------------------------------------------
_PHYSIONET = "https://physionet.org/files/challenge-2012/1.0.0"
PHYSIONET_FILES = {
    # The official tarballs differ in bytes from the repacked copies in the shared data folder (same
    # members); these checksums are of the copies, so a fresh download is checked by its members instead.
    "set-a": RemoteFile("physionet2012/set-a.tar.gz", f"{_PHYSIONET}/set-a.tar.gz",
                        "9adc3d84f529d5527429de6b59868780b6a84fbe72ca575a5a4e1fb02685137c"),
    "set-b": RemoteFile("physionet2012/set-b.tar.gz", f"{_PHYSIONET}/set-b.tar.gz",
                        "373e24dad57eb570c173e158953bc5db3585c02727bf78f79816127411a1965d"),
}
PHYSIONET_OUTCOMES = {
    "set-a": RemoteFile("physionet2012/Outcomes-a.txt", f"{_PHYSIONET}/Outcomes-a.txt",
                        "2613ea60ccda29f87571a7d6b09ad130858a8ccd66325bd073365925026883c2"),
    "set-b": RemoteFile("physionet2012/Outcomes-b.txt", f"{_PHYSIONET}/Outcomes-b.txt",
                        "1305f29734da374a809483229a99f33a9230aa8d4fa74b1a2d6ad788136423d5"),
}
PHYSIONET_LICENSE = "ODC-BY 1.0; cite Silva et al., Computing in Cardiology 2012"


@dataclass
class Stay:
    record_id: int
    record_text: str  # the record file as published: Time,Parameter,Value rows
    died: int  # In-hospital_death
    saps1: float  # SAPS-I score, -1 where the challenge has none


def load_physionet(set_name: str, directory: Path | None = None) -> list[Stay]:
    """The 4,000 stays of `set-a` or `set-b` with their outcomes, in RecordID order."""
    import tarfile

    if set_name not in PHYSIONET_FILES:
        raise ValueError(f"unknown PhysioNet 2012 set {set_name!r}; sets: {sorted(PHYSIONET_FILES)}")
    root = data_dir(directory)
    outcomes = {}
    with open(fetch(PHYSIONET_OUTCOMES[set_name], root), newline="") as file:
        for row in csv.DictReader(file):
            outcomes[int(row["RecordID"])] = (int(row["In-hospital_death"]), float(row["SAPS-I"]))
    stays = []
    with tarfile.open(fetch(PHYSIONET_FILES[set_name], root), "r:gz") as archive:
        for member in archive:
            if not member.isfile() or not member.name.endswith(".txt"):
                continue
            record_id = int(Path(member.name).stem)
            died, saps1 = outcomes[record_id]
            stays.append(Stay(record_id, archive.extractfile(member).read().decode("utf-8"), died, saps1))
    if len(stays) != len(outcomes):
        raise DataError(f"{set_name}: {len(stays)} records but {len(outcomes)} outcomes")
    return sorted(stays, key=lambda stay: stay.record_id)
