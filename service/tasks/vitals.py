"""POST /vitals and vitals sessions: request and response bodies, the adapter from observations to hourly
feature rows, and a session that keeps a stay's state and steps it an hour at a time."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import bentoml
from bentoml.exceptions import InvalidArgument
from pydantic import BaseModel, Field

from service.core import ModelServer, unavailable_as_503
from service.sessions import Session
from zoo.tasks.vitals import TASK
from zoo.tasks.vitals.records import (
    MAX_OBSERVATIONS,
    Clip,
    StayFeatures,
    VitalsInputError,
    VitalsStatistics,
    features,
)

MAX_BATCH_STAYS, MAX_QUEUED_STAYS = 128, 1024  # ICU stays (up to 48 hours each) per call, and waiting
MAX_RECORD_CHARS = 1_000_000  # a record file's text; the largest set-a file is about 20 kB


class Observation(BaseModel):
    time: str = Field(description="HH:MM since ICU admission, 00:00 to 48:00", examples=["00:07"])
    parameter: str = Field(description="a PhysioNet 2012 parameter name (descriptors at 00:00, -1 = unknown)",
                           examples=["HR"])
    value: float = Field(description="in the records' units", examples=[73.0])


Observations = Annotated[
    list[Observation] | None,
    Field(max_length=MAX_OBSERVATIONS, description=f"the record's rows, at most {MAX_OBSERVATIONS}; send these or "
                                                   "`record`, not both",
          examples=[[{"time": "00:00", "parameter": "Age", "value": 54}, {"time": "00:00", "parameter": "Gender", "value": 0},
                     {"time": "00:00", "parameter": "ICUType", "value": 4}, {"time": "00:07", "parameter": "HR", "value": 73},
                     {"time": "00:07", "parameter": "NIMAP", "value": 92.33}, {"time": "00:07", "parameter": "RespRate", "value": 19},
                     {"time": "00:07", "parameter": "Temp", "value": 35.1}, {"time": "01:37", "parameter": "HR", "value": 60}]]),
]
RecordText = Annotated[
    str | None,
    Field(max_length=MAX_RECORD_CHARS, description="a record file's text as exported (`Time,Parameter,Value` CSV, "
                                                   "header optional); send this or `observations`",
          examples=["Time,Parameter,Value\n00:00,Age,54\n00:07,HR,73\n00:37,HR,77\n"]),
]
VitalsModel = Annotated[str | None, Field(description="a vitals model listed by GET /models, optionally as name@version; omitted: the best "
                                                      "by set-b mortality AUROC", examples=["vitals-gru"])]
SessionObservations = Annotated[
    list[Observation] | None,
    Field(max_length=MAX_OBSERVATIONS, description="vitals sessions: the rows since the last step, in time order "
                                                   "(none for an hour the session has closed)",
          examples=[[{"time": "00:07", "parameter": "HR", "value": 73}]]),
]


class ClippedValue(BaseModel):
    time: str
    parameter: str
    value: float = Field(description="the value sent")
    clipped_to: float = Field(description="the physiological limit used instead (limits: the model's card)")


class VitalsResponse(BaseModel):
    model: str = Field(examples=["vitals-gru"])
    hours_observed: int = Field(description="hours from admission to the last observation; the model read these")
    mortality_risk: float = Field(description="risk of in-hospital death after the last observed hour", examples=[0.12])
    risk_by_hour: list[float] = Field(description="the risk after each hour 1..hours_observed")
    next_hour: dict[str, float] = Field(description="expected HR, MAP, SaO2, RespRate, Temp in the next hour",
                                        examples=[{"HR": 88.1, "MAP": 79.0, "SaO2": 97.2, "RespRate": 19.5, "Temp": 37.1}])
    clipped: list[ClippedValue] = Field(description="values outside physiological limits, and what was used instead")


def rows_of(observations: list[Observation]) -> list[tuple[str, str, float]]:
    return [(o.time, o.parameter, o.value) for o in observations]


@dataclass(eq=False, kw_only=True)
class VitalsSession(Session):
    """A stay so far: its hourly features as they arrive, and the risk after each closed hour."""
    stay: StayFeatures
    risks: list[float] = field(default_factory=list)

    step_fields: ClassVar[dict[str, tuple[Any, Any]]] = {"observations": (SessionObservations, None)}
    primary_field: ClassVar[str] = "observations"
    primary_hint: ClassVar[str] = " (the rows since the last step)"
    kind: ClassVar[str] = TASK.name
    describe: ClassVar[str] = TASK.name
    answer_field: ClassVar[str] = TASK.name
    answer_schema: ClassVar[tuple[Any, Any]] = (
        VitalsResponse | None, Field(description="vitals sessions: what /vitals gives for the whole stay so far; "
                                                 "null while the session has only descriptors (Age, ...)"))
    stored_types: ClassVar[tuple[type, ...]] = (StayFeatures, VitalsStatistics, Clip)

    @classmethod
    def open(cls, predictor) -> dict[str, Any]:
        return {"stay": StayFeatures(predictor.statistics)}

    async def step(self, server: ModelServer, fields: dict[str, Any]) -> VitalsResponse | None:
        monitor = server.zoo.predictors[self.model]
        try:
            closed = self.stay.add(rows_of(fields["observations"]))  # (k, F)
        except VitalsInputError as error:
            raise InvalidArgument(str(error)) from None  # nothing was changed
        if not self.stay.rows:  # descriptors only so far: kept, nothing to assess yet
            return None
        batcher = server.session_batcher(monitor)
        try:
            if len(closed):  # closed hours go into the state once, for good
                (risk, _), self.state = await batcher.submit(closed, self.state)
                self.risks.extend(risk.tolist())
            open_row, carried = self.stay.open_hour()
            (risk, change), _ = await batcher.submit(open_row, self.state)  # the open hour is not kept
        except Exception:
            raise server.failed_step(self) from None
        return VitalsResponse(**monitor.answer(self.stay.hours_observed, self.risks + [float(risk[0])],
                                               monitor.expected_vitals(carried, change[0]), self.stay.clipped))


class VitalsEndpoints(ModelServer):
    session = VitalsSession

    @bentoml.api(route="/vitals")
    @unavailable_as_503
    async def vitals(self, observations: Observations = None, record: RecordText = None,
                     model: VitalsModel = None) -> VitalsResponse:
        """Mortality risk after every observed hour and the next hour's vitals, from a PhysioNet-2012-style
        record: `observations` as JSON rows, or the record file's text as `record`."""
        monitor = self.model(TASK.name, model)
        try:
            stay = monitor.read_stay(rows_of(observations) if observations is not None else None, record)
        except VitalsInputError as error:
            raise InvalidArgument(str(error)) from None
        hours = stay.hours_observed
        ((risk_by_hour, change),) = await self.predict(monitor, [features(stay, monitor.statistics, hours)],
                                                       MAX_BATCH_STAYS, MAX_QUEUED_STAYS)
        return VitalsResponse(**monitor.answer(hours, risk_by_hour, monitor.next_hour(stay, change), stay.clipped))
