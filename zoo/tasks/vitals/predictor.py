"""Vitals predictor: hourly features of ICU stays -> mortality risk after every hour and the next hour's
vitals; zoo.tasks.vitals.records turns observations into features."""
from __future__ import annotations

import numpy as np

from zoo.cards import CardError, ModelCard
from zoo.checks import ValidationError, expect
from zoo.predictor import RecurrentPredictor
from zoo.tasks.vitals.records import (
    FEATURE_COUNT,
    VITALS,
    Clip,
    Record,
    VitalsInputError,
    VitalsStatistics,
    carried_forward,
    parse_observations,
    parse_record_text,
    vital_targets,
)


class VitalsPredictor(RecurrentPredictor):
    """Card + statistics + ONNX session of one ICU monitor. The state inputs are risk_h0 (, risk_c0),
    forecast_h0 (, forecast_c0): (cores x layers, batch, hidden)."""

    task = "vitals"
    primary_input = "features"

    @staticmethod
    def check_contract(card: ModelCard) -> None:
        where, states = f"{card.name} ({card.task})", card.inputs[1:]
        if not states or any(not s.name.endswith("0") for s in states):
            raise ValidationError(f"{where} inputs: after features, state inputs named *0 are needed, got "
                                  f"{[s.name for s in states]}")
        expect(f"{where} inputs", card.inputs, [("features", "float32", ["batch", "hours", FEATURE_COUNT]),
                                                *[(s.name, "float32", [None, "batch", None]) for s in states]])
        expect(f"{where} outputs", card.outputs, [
            ("mortality_risk", "float32", ["batch", "hours"]), ("vitals_change", "float32", ["batch", "hours", len(VITALS)]),
            *[(s.name[:-1] + "N", "float32", s.shape) for s in states]])

    def load_preprocessing(self) -> None:
        super().load_preprocessing()
        settings = self.card.preprocessing.statistics
        try:
            self.statistics = VitalsStatistics.from_dict(settings)
            self.vital_mean = np.array(settings["vital_mean"], dtype=np.float64)
            self.vital_std = np.array(settings["vital_std"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as error:
            raise CardError(f"{self.card.name}: preprocessing.statistics is incomplete: {error}") from None
        if not self.state_names:
            raise CardError(f"{self.card.name}: the card lists no state inputs; re-export it with training.vitals.export")

    def step(self, inputs: np.ndarray, state: list[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """features (B, T, F) of the hours after `state` -> ([risk (B, T), change (B, T, 5)], the state after them)."""
        return super().step(inputs.astype(np.float32), state)

    def assess(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """features (B, T, F) of whole stays -> mortality risk (B, T), vitals change (B, T, 5) in vital stds."""
        (risk, change), _ = self.step(inputs, self.initial_state(len(inputs)))
        return risk, change

    def run(self, rows: list[np.ndarray]) -> list[tuple[list[float], np.ndarray]]:
        """Per stay (hours, F): its risk after each hour and the 5 vitals' predicted change after the last.
        All run as one onnxruntime call, right-padded to the longest: the network reads forwards in time, so
        padding after a stay's last hour cannot change its outputs."""
        hours = [len(stay) for stay in rows]
        batch = np.zeros((len(rows), max(hours), rows[0].shape[1]), dtype=np.float32)  # (B, T, F)
        for i, stay in enumerate(rows):
            batch[i, : hours[i]] = stay
        risk, change = self.assess(batch)  # (B, T), (B, T, 5)
        return [(risk[i, : hours[i]].tolist(), change[i, hours[i] - 1]) for i in range(len(rows))]

    def next_hour(self, record: Record, change: np.ndarray) -> np.ndarray:
        """(5,) the vitals expected in the hour after the record's last: last seen value (the training mean
        if never seen) plus the predicted change."""
        return self.expected_vitals(carried_forward(vital_targets(record))[record.hours_observed - 1], change)

    def expected_vitals(self, carried: np.ndarray, change: np.ndarray) -> np.ndarray:
        """(5,) last seen vitals (NaN: never seen, the training mean stands in) + (5,) change -> next hour's."""
        return np.where(np.isnan(carried), self.vital_mean, carried) + change * self.vital_std

    @staticmethod
    def read_stay(observations: list[tuple[str, str, float]] | None = None, record: str | None = None) -> Record:
        """Exactly one of (time, parameter, value) rows or a record file's text -> a Record with at least one
        time series row; VitalsInputError saying what is wrong (the check of /vitals and of its pipeline)."""
        if (observations is None) == (record is None):
            raise VitalsInputError("send exactly one of `observations` (JSON rows) or `record` (the record file's "
                                   "Time,Parameter,Value text)")
        if record is not None and not isinstance(record, str):
            raise VitalsInputError(f"record must be the record file's text (a string), got {type(record).__name__}")
        stay = parse_record_text(record) if record is not None else parse_observations(observations)
        if not stay.rows:
            raise VitalsInputError("no time series observations (only descriptors such as Age); send at least one "
                                   "measurement such as HR")
        return stay

    def answer(self, hours: int, risk_by_hour: list[float], next_hour: np.ndarray, clipped: list[Clip]) -> dict:
        """The answer of /vitals, of a vitals session's step and of the pipeline alike."""
        return {"model": self.name, "hours_observed": hours, "mortality_risk": risk_by_hour[-1],
                "risk_by_hour": risk_by_hour,
                "next_hour": {vital: round(float(value), 3) for vital, value in zip(VITALS, next_hour)},
                "clipped": [vars(clip).copy() for clip in clipped]}
