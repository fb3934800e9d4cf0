"""ICU vitals: PhysioNet 2012 stays -> in-hospital mortality risk every hour and the next hour's vitals."""
from zoo.task import ModelSpec, Task, int8_variant
from zoo.tasks.vitals.pipeline import VitalsPipeline
from zoo.tasks.vitals.predictor import VitalsPredictor
from zoo.tasks.vitals.records import FEATURE_COUNT, VITALS

NETWORK = "zoo.tasks.vitals.network:VitalsMonitor"
# 64 units overfit after a few epochs on 3,400 stays already; five risk members average that noise away.
_SHIPPED = dict(num_features=FEATURE_COUNT, hidden_size=64, num_layers=1, dropout=0.3, num_vitals=len(VITALS),
                members=5, forecast_hidden_size=64)
_MODELS = [spec for cell in ("rnn", "lstm", "gru") for spec in (
    ModelSpec(name=f"vitals-{cell}", task=VitalsPredictor.task, architecture=NETWORK,
              arguments=dict(_SHIPPED, cell=cell),
              description=f"{cell.upper()} ICU monitor: in-hospital mortality risk every hour and next-hour vitals "
                          "(PhysioNet 2012)"),
    ModelSpec(name=f"test-vitals-{cell}", task=VitalsPredictor.task, architecture=NETWORK,
              arguments=dict(_SHIPPED, hidden_size=4, members=2, forecast_hidden_size=4, cell=cell),
              description="tiny test variant", shipped=False),
)]

TASK = Task(
    name=VitalsPredictor.task, title="ICU vitals (PhysioNet 2012)", predictor=VitalsPredictor,
    pipeline=VitalsPipeline, headline_metric="mortality_auroc", higher_is_better=True,
    int8_tolerance=0.005, int8_tolerance_relative=False,
    latency_input="one 48-hour stay", latency_steps=48, training_unit="epochs",
    models=(*_MODELS, int8_variant(_MODELS[2])),
)
