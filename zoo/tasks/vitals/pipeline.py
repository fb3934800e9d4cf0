"""`zoo.pipeline("vitals")`: a stay's observations (or its record file's text) in, /vitals' answer out."""
from __future__ import annotations

from pathlib import Path

from zoo.task import Pipeline
from zoo.tasks.vitals.records import VitalsInputError, features

Row = tuple[str, str, float] | dict


def observation_rows(observations: list[Row]) -> list[tuple[str, str, float]]:
    """(time, parameter, value) tuples or {"time", "parameter", "value"} dicts (as /vitals takes) -> tuples."""
    if not isinstance(observations, (list, tuple)):
        raise VitalsInputError(f"observations must be a list of rows, got {type(observations).__name__}")
    rows = []
    for index, row in enumerate(observations):
        if isinstance(row, dict) and {"time", "parameter", "value"} <= set(row):
            rows.append((row["time"], row["parameter"], row["value"]))
        elif isinstance(row, (list, tuple)) and len(row) == 3:
            rows.append(tuple(row))
        else:
            raise VitalsInputError(f"observations[{index}] is {row!r}; each observation is a (time, parameter, "
                                   "value) row or a dict with those keys"[:300])
    return rows


class VitalsPipeline(Pipeline):
    def __call__(self, observations: list[Row] | None = None, record: str | None = None) -> dict:
        """Mortality risk after every observed hour and the next hour's vitals -> {"model", "hours_observed",
        "mortality_risk", "risk_by_hour", "next_hour", "clipped"}; send `observations` or a record file's text."""
        rows = observation_rows(observations) if observations is not None else None
        stay = self.predictor.read_stay(rows, record)
        hours = stay.hours_observed
        ((risk_by_hour, change),) = self.predictor.run([features(stay, self.predictor.statistics, hours)])
        return self.predictor.answer(hours, risk_by_hour, self.predictor.next_hour(stay, change), stay.clipped)

    def from_command_line(self, inputs: list[str], options: dict) -> dict:
        """One record file (PhysioNet 2012's Time,Parameter,Value text)."""
        if len(inputs) != 1:
            raise VitalsInputError(f"send one record file (Time,Parameter,Value text), got {len(inputs)} inputs")
        return self(record=Path(inputs[0]).read_text(), **options)
