"""ICU records (PhysioNet/CinC 2012 `Time,Parameter,Value` rows) -> hourly features for the vitals models
(numpy only). Training, evaluation and the service all call this module: one implementation.

A record is the first 48 hours of a stay. Each hour gets, per variable, its mean value that hour
(standardised with training statistics, carried forward when absent), an observed mask, and the hours
since the variable was last seen: what irregularly sampled clinical series need (GRU-D, Che et al. 2018).
Values outside documented physiological limits are clipped to the limit, and every clip is reported.
"""
from __future__ import annotations

import csv
import functools
import io
import math
import re
from dataclasses import dataclass, field

import numpy as np

from zoo.task import InputError

HOURS = 48
MAX_MINUTES = HOURS * 60  # "48:00" is the last time a record holds
MAX_OBSERVATIONS = 20_000  # rows per request; the largest set-a record has under 1,400

# Time series variables with the limits values are clipped to (outside them a value is a recording
# error: a temperature of -17.8 C, a pH of 735). Units as in the challenge's records.
LIMITS: dict[str, tuple[float, float]] = {
    "Albumin": (0.5, 7.0), "ALP": (5, 5000), "ALT": (1, 20000), "AST": (1, 30000), "Bilirubin": (0.0, 60),
    "BUN": (0.5, 300), "Cholesterol": (20, 1000), "Creatinine": (0.05, 25), "DiasABP": (5, 250),
    "FiO2": (0.21, 1.0), "GCS": (3, 15), "Glucose": (10, 1500), "HCO3": (2, 60), "HCT": (5, 75),
    "HR": (10, 300), "K": (1, 12), "Lactate": (0.1, 30), "Mg": (0.3, 10), "MAP": (10, 300),
    "MechVent": (0, 1), "Na": (90, 200), "NIDiasABP": (5, 250), "NIMAP": (10, 300), "NISysABP": (20, 300),
    "PaCO2": (5, 150), "PaO2": (10, 700), "pH": (6.5, 8.0), "Platelets": (1, 2000), "RespRate": (0, 100),
    "SaO2": (20, 100), "SysABP": (20, 300), "Temp": (25, 45), "TroponinI": (0, 100), "TroponinT": (0, 50),
    "Urine": (0, 12000), "WBC": (0.1, 500), "Weight": (20, 350),
}
SERIES = tuple(LIMITS)  # 37 variables, Weight among them (it is also a descriptor)
DESCRIPTORS: dict[str, tuple[float, float]] = {"Age": (15, 120), "Gender": (0, 1), "Height": (100, 250),
                                               "ICUType": (1, 4), "Weight": (20, 350)}
IGNORED = ("RecordID",)  # accepted, not used
PARAMETERS = tuple(sorted(set(SERIES) | set(DESCRIPTORS) | set(IGNORED), key=str.lower))
_KNOWN = frozenset(PARAMETERS)  # membership per row: a set, not a scan of the tuple (messages list the tuple)
_COLUMN = {name: i for i, name in enumerate(SERIES)}
_TIME = re.compile(r"(\d{1,2}):([0-5]\d)", re.ASCII)
MISSING = -1.0  # the records' value for an unknown descriptor
SKEWED = ("ALP", "ALT", "AST", "Bilirubin", "BUN", "Creatinine", "Glucose", "Lactate", "Platelets",
          "TroponinI", "TroponinT", "Urine", "WBC")  # log1p before standardising
VITALS = ("HR", "MAP", "SaO2", "RespRate", "Temp")  # the next-hour forecast; MAP is invasive, else NIMAP
STATIC_FEATURES = ("age", "gender_female", "gender_missing", "height", "height_missing", "weight",
                   "weight_missing", "icu_coronary", "icu_cardiac_surgery", "icu_medical", "icu_surgical", "hour")


class VitalsInputError(InputError):
    """Observations that cannot be read: unknown parameter, bad time or value, nothing at all."""


@dataclass
class Clip:
    time: str
    parameter: str
    value: float
    clipped_to: float


@dataclass
class Record:
    """A stay's observations after checking: descriptors and (minute, variable, value) rows."""

    descriptors: dict[str, float]  # Age, Gender, Height, ICUType, Weight; MISSING when unknown
    rows: list[tuple[int, str, float]]  # time series observations, minutes since admission
    clipped: list[Clip] = field(default_factory=list)

    @property
    def hours_observed(self) -> int:
        """Hours from admission to the last observation (at least 1): how far the model reads."""
        last = max((minute for minute, _, _ in self.rows), default=0)
        return min(HOURS, last // 60 + 1)


def parse_minutes(time: str) -> int:
    # a record repeats each time for every parameter measured then: a text is parsed once (a JSON row's time
    # may be any value, which need not be hashable, so only strings are cached)
    return _text_minutes(time) if isinstance(time, str) else _minutes(time)


def _minutes(time) -> int:
    match = _TIME.fullmatch(str(time))
    if match is None:
        raise VitalsInputError(f"time {time!r} is malformed; expected HH:MM from 00:00 to {HOURS}:00")
    total = int(match[1]) * 60 + int(match[2])
    if total > MAX_MINUTES:
        raise VitalsInputError(f"time {time!r} is past {HOURS}:00, the end of the window the models read")
    return total


# every valid time fits (49 x 60); a refused one raises, and lru_cache keeps no exception
_text_minutes = functools.lru_cache(maxsize=4096)(_minutes)


def parse_observations(observations: list[tuple[str, str, float]]) -> Record:
    """(time, parameter, value) rows as in the records -> Record, or VitalsInputError saying what is wrong."""
    if not observations:
        raise VitalsInputError("no observations; send at least one (time, parameter, value) row")
    if len(observations) > MAX_OBSERVATIONS:
        raise VitalsInputError(f"{len(observations)} observations; at most {MAX_OBSERVATIONS} are accepted")
    descriptors = {name: MISSING for name in DESCRIPTORS}
    rows, clipped = [], []
    for index, (time, parameter, value) in enumerate(observations):
        if not isinstance(parameter, str) or parameter not in _KNOWN:  # a list is not hashable: no TypeError
            raise VitalsInputError(f"observation {index}: unknown parameter {parameter!r}; valid parameters: "
                                   f"{', '.join(PARAMETERS)}")
        minute = parse_minutes(time)
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise VitalsInputError(f"observation {index}: value {value!r} of {parameter} is not a number") from None
        if not math.isfinite(value):
            raise VitalsInputError(f"observation {index}: value {value} of {parameter} is not finite")
        if parameter in IGNORED:
            continue
        if parameter in DESCRIPTORS and (minute == 0 or parameter != "Weight"):
            if value != MISSING:
                low, high = DESCRIPTORS[parameter]
                if not low <= value <= high:
                    clipped.append(Clip(time, parameter, value, min(max(value, low), high)))
                    value = min(max(value, low), high)
                descriptors[parameter] = value
            if parameter != "Weight":
                continue
        if value == MISSING and parameter == "Weight":
            continue  # the records write an unknown weight as -1 at any time
        low, high = LIMITS[parameter]
        if not low <= value <= high:
            clipped.append(Clip(time, parameter, value, min(max(value, low), high)))
            value = min(max(value, low), high)
        rows.append((minute, parameter, value))
    return Record(descriptors, rows, clipped)


def parse_record_text(text: str) -> Record:
    """A record file's text (`Time,Parameter,Value` CSV, header optional) -> Record."""
    observations = []
    try:
        for line_number, row in enumerate(csv.reader(io.StringIO(text.strip())), start=1):
            if not row or (line_number == 1 and [c.strip() for c in row] == ["Time", "Parameter", "Value"]):
                continue
            if len(row) != 3:
                raise VitalsInputError(f"line {line_number}: expected 'Time,Parameter,Value', got "
                                       f"{','.join(row)[:200]!r}")
            observations.append((row[0].strip(), row[1].strip(), row[2].strip()))
    except csv.Error as error:  # e.g. a field longer than the csv module allows
        raise VitalsInputError(f"the record is not 'Time,Parameter,Value' CSV: {error}") from None
    return parse_observations(observations)


def hourly(record: Record) -> np.ndarray:
    """Record -> (HOURS, V) hourly means of each series variable, NaN where unobserved; minute 2880
    (48:00) falls into the last hour."""
    if not record.rows:
        return np.full((HOURS, len(SERIES)), np.nan)
    minutes, parameters, values = zip(*record.rows)
    cells = np.minimum(np.array(minutes) // 60, HOURS - 1) * len(SERIES) + np.array([_COLUMN[p] for p in parameters])
    # bincount adds each cell's values in row order, as a loop over the rows would: the same float64 sums
    sums = np.bincount(cells, weights=np.array(values, dtype=np.float64), minlength=HOURS * len(SERIES))
    counts = np.bincount(cells, minlength=HOURS * len(SERIES))
    with np.errstate(invalid="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan).reshape(HOURS, len(SERIES))


def transform(values: np.ndarray) -> np.ndarray:
    """log1p on the skewed variables (last axis is SERIES)."""
    out = values.copy()
    for name in SKEWED:
        i = SERIES.index(name)
        out[..., i] = np.log1p(out[..., i])
    return out


@dataclass(frozen=True)
class VitalsStatistics:
    """Training-set mean and std of each (transformed) series variable and of the numeric descriptors."""

    mean: tuple[float, ...]  # (V,)
    std: tuple[float, ...]  # (V,)
    descriptor_mean: dict[str, float]  # age, height, weight
    descriptor_std: dict[str, float]

    def to_dict(self) -> dict:
        return {"series": list(SERIES), "mean": list(self.mean), "std": list(self.std),
                "descriptor_mean": self.descriptor_mean, "descriptor_std": self.descriptor_std}

    @classmethod
    def from_dict(cls, data: dict) -> "VitalsStatistics":
        if list(data.get("series", [])) != list(SERIES):
            raise ValueError(f"statistics are for variables {data.get('series')}, this code reads {SERIES}")
        return cls(tuple(data["mean"]), tuple(data["std"]), dict(data["descriptor_mean"]), dict(data["descriptor_std"]))

    @classmethod
    def fit(cls, records: list[Record]) -> "VitalsStatistics":
        values = transform(np.concatenate([hourly(r) for r in records]))  # (N*HOURS, V)
        mean, std = np.nanmean(values, axis=0), np.nanstd(values, axis=0)
        numeric = {"age": "Age", "height": "Height", "weight": "Weight"}
        d_mean, d_std = {}, {}
        for key, name in numeric.items():
            known = np.array([r.descriptors[name] for r in records if r.descriptors[name] != MISSING])
            d_mean[key], d_std[key] = float(known.mean()), float(known.std())
        return cls(tuple(float(x) for x in mean), tuple(float(max(x, 1e-6)) for x in std), d_mean, d_std)


def features(record: Record, statistics: VitalsStatistics, hours: int = HOURS) -> np.ndarray:
    """Record -> (hours, 3V + S) float32: per variable [value carried forward (0 = the training mean
    before the first sighting), observed mask, hours since last seen / HOURS], then the descriptors."""
    values = (transform(hourly(record))[:hours] - np.array(statistics.mean)) / np.array(statistics.std)  # (T, V)
    observed = ~np.isnan(values)
    # what `carry` gives hour by hour, for every hour at once (a loop over hours cost a request 0.3 ms): the
    # value of the last hour seen (0 before the first) and the hours since it (hour + 1 before the first)
    filled, seen = _carried(values, before_first=0.0)
    hours_now = np.arange(values.shape[0])[:, None]
    since = np.where(seen >= 0, hours_now - seen, hours_now + 1) / HOURS
    static = descriptor_features(record.descriptors, statistics)  # (S,) without the hour
    hour = (np.arange(values.shape[0]) / HOURS)[:, None]
    return np.concatenate([filled, observed.astype(np.float64), since,
                           np.broadcast_to(static, (values.shape[0], len(static))), hour], axis=1).astype(np.float32)


def _carried(values: np.ndarray, before_first: float) -> tuple[np.ndarray, np.ndarray]:
    """(T, V) hourly values, NaN where unobserved -> each variable's last observed value up to each hour
    (`before_first` before its first), and the hour it was last seen (T, V), -1 before the first."""
    seen = np.maximum.accumulate(np.where(~np.isnan(values), np.arange(len(values))[:, None], -1), axis=0)
    return np.where(seen >= 0, np.take_along_axis(values, np.maximum(seen, 0), axis=0), before_first), seen


def carry(values: np.ndarray, last: np.ndarray, gap: np.ndarray, hour: int) -> tuple[np.ndarray, np.ndarray]:
    """One hour of (V,) standardised means (NaN: unobserved) -> the values carried forward and the hours
    since each variable was seen. Start from zeros and ones: an hour has passed "since" for never-seen
    variables at hour 0."""
    observed = ~np.isnan(values)
    return np.where(observed, values, last), np.where(observed, 0.0, gap + (hour > 0))


def descriptor_features(descriptors: dict[str, float], statistics: VitalsStatistics) -> np.ndarray:
    def standard(key: str, name: str) -> tuple[float, float]:
        value = descriptors[name]
        if value == MISSING:
            return 0.0, 1.0
        return (value - statistics.descriptor_mean[key]) / statistics.descriptor_std[key], 0.0

    age, _ = standard("age", "Age")
    height, height_missing = standard("height", "Height")
    weight, weight_missing = standard("weight", "Weight")
    gender = descriptors["Gender"]
    icu = [float(descriptors["ICUType"] == k) for k in (1, 2, 3, 4)]
    return np.array([age, float(gender == 0), float(gender == MISSING), height, height_missing, weight,
                     weight_missing, *icu])


FEATURE_COUNT = 3 * len(SERIES) + len(STATIC_FEATURES)


def vital_targets(record: Record) -> np.ndarray:
    """(HOURS, 5) the VITALS each hour (MAP: invasive when measured, else non-invasive), NaN if unobserved."""
    return vitals_of(hourly(record))


def vitals_of(values: np.ndarray) -> np.ndarray:
    """(..., V) hourly means of SERIES -> (..., 5) the VITALS (MAP: invasive when measured, else NIMAP)."""
    out = values[..., [SERIES.index(name) for name in VITALS]]
    map_column = VITALS.index("MAP")
    out[..., map_column] = np.where(np.isnan(out[..., map_column]), values[..., SERIES.index("NIMAP")],
                                    out[..., map_column])
    return out


def carried_forward(targets: np.ndarray) -> np.ndarray:
    """(T, 5) the last observed value of each vital up to and including each hour (NaN before the first)."""
    return _carried(targets, before_first=np.nan)[0]


class StayFeatures:
    """A stay's features hour by hour as its observations arrive (sessions): the rows `features` gives
    for the whole record so far, without reading that record again.

    The last hour with an observation is open: more readings may still change its means, so its features
    are computed afresh at each step and never kept. An observation of a later hour closes it, and any
    empty hours in between; closed hours are final. So a session refuses observations for a closed hour,
    and descriptors (which every hour's features carry) once the first hour has closed.
    """

    def __init__(self, statistics: VitalsStatistics):
        self.statistics = statistics
        self.mean, self.std = np.array(statistics.mean), np.array(statistics.std)  # (V,)
        self.descriptors = {name: MISSING for name in DESCRIPTORS}
        self.closed = 0  # hours whose features are final; the open hour is the next one
        self.sums, self.counts = np.zeros(len(SERIES)), np.zeros(len(SERIES))  # the open hour's readings
        self.last = np.zeros(len(SERIES))  # standardised values carried forward after the closed hours
        self.gap = np.ones(len(SERIES))  # hours since each variable was seen (as in `features`)
        self.last_vitals = np.full(len(VITALS), np.nan)  # raw VITALS carried forward after the closed hours
        self.rows = 0
        self.clipped: list[Clip] = []

    @property
    def hours_observed(self) -> int:
        return self.closed + 1

    def add(self, observations: list[tuple[str, str, float]]) -> np.ndarray:
        """Take a step's (time, parameter, value) rows; returns the features (k, F) of the k hours they
        closed, to be run into the recurrent state once. Raises VitalsInputError, changing nothing, for
        what `parse_observations` refuses, for rows of a closed hour, late descriptors, or too many rows."""
        for index, (time, parameter, value) in enumerate(observations):
            minute = parse_minutes(time) if parameter in PARAMETERS else None  # unknown ones: the parser says
            if minute is None or parameter in IGNORED:
                continue
            if min(minute // 60, HOURS - 1) < self.closed:
                raise VitalsInputError(
                    f"observation {index}: {time} is in hour {minute // 60}, which this session has closed; "
                    f"send observations in time order: from {self.closed:02d}:00 on")
            is_descriptor = parameter in DESCRIPTORS and (minute == 0 or parameter != "Weight")
            if is_descriptor and self.closed and _number(value) != MISSING:
                raise VitalsInputError(
                    f"observation {index}: descriptor {parameter} arrives after hour 1 has closed; a session "
                    f"takes descriptors ({', '.join(DESCRIPTORS)}) only before any observation after 01:00")
        step = parse_observations(observations)
        if self.rows + len(step.rows) > MAX_OBSERVATIONS:
            raise VitalsInputError(f"this step would bring the session to {self.rows + len(step.rows)} "
                                   f"observations; at most {MAX_OBSERVATIONS} per stay are accepted")
        for name, value in step.descriptors.items():
            if value != MISSING:
                self.descriptors[name] = value
        by_hour: dict[int, list[tuple[int, float]]] = {}
        column = {name: i for i, name in enumerate(SERIES)}
        for minute, parameter, value in step.rows:  # in arrival order: the same sums as `hourly`
            by_hour.setdefault(min(minute // 60, HOURS - 1), []).append((column[parameter], value))
        closed_rows = []
        for hour in range(self.closed, max(by_hour, default=self.closed) + 1):
            for col, value in by_hour.get(hour, []):
                self.sums[col] += value
                self.counts[col] += 1
            if hour < max(by_hour, default=self.closed):  # a later hour has readings: this one is final
                row, self.last, self.gap, self.last_vitals = self._hour(hour)
                closed_rows.append(row)
                self.sums, self.counts = np.zeros(len(SERIES)), np.zeros(len(SERIES))
                self.closed = hour + 1
        self.rows += len(step.rows)
        self.clipped.extend(step.clipped)
        return np.array(closed_rows, dtype=np.float32).reshape(len(closed_rows), FEATURE_COUNT)

    def open_hour(self) -> tuple[np.ndarray, np.ndarray]:
        """(1, F) features of the open hour, and (5,) the raw VITALS carried forward to its end."""
        row, _, _, carried = self._hour(self.closed)
        return row[None, :], carried

    def _hour(self, hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The open sums as hour `hour`: (F,) features, and the carried state after it (last, gap, vitals)."""
        with np.errstate(invalid="ignore"):
            raw = np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)  # (V,) as `hourly`
        values = (transform(raw) - self.mean) / self.std
        last, gap = carry(values, self.last, self.gap, hour)
        static = descriptor_features(self.descriptors, self.statistics)
        row = np.concatenate([last, (~np.isnan(values)).astype(np.float64), gap / HOURS, static, [hour / HOURS]])
        vitals = vitals_of(raw)
        return row.astype(np.float32), last, gap, np.where(np.isnan(vitals), self.last_vitals, vitals)


def _number(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
