"""Polyphonic music: piano-roll models of JSB Chorales and Nottingham (Boulanger-Lewandowski et al. 2012), the
benchmark Chung et al. (2014) compared tanh-RNN, LSTM and GRU on, sampled a frame at a time."""
from zoo.task import ModelSpec, Task, int8_variant
from zoo.tasks.music.pipeline import MusicPipeline
from zoo.tasks.music.predictor import MusicPredictor

NETWORK = "zoo.tasks.music.network:PianoRollModel"
DATASETS = {"jsb": "JSB Chorales", "nottingham": "Nottingham"}
# Parameter-matched (about 250k each, within 1%), so the comparison changes the cell and nothing else.
_HIDDEN = {"rnn": 420, "lstm": 200, "gru": 236}
# Regularisation per data set, the same for every cell: JSB (14k frames) overfits within 20 epochs without
# dropping a fifth of the notes heard; Nottingham (177k frames) does not overfit in its 60 epochs.
_REGULARISATION = {"jsb": dict(dropout=0.5, input_dropout=0.2), "nottingham": dict(dropout=0.3, input_dropout=0.0)}
_MODELS = [spec for dataset, title in DATASETS.items() for cell in ("rnn", "lstm", "gru") for spec in (
    ModelSpec(name=f"{dataset}-{cell}", task=MusicPredictor.task, architecture=NETWORK,
              arguments=dict(cell=cell, hidden_size=_HIDDEN[cell], num_layers=1, joint_keys=True,
                             **_REGULARISATION[dataset]),
              description=f"{cell.upper()} polyphonic piano-roll model of {title}, keys of a frame drawn jointly"),
    ModelSpec(name=f"test-{dataset}-{cell}", task=MusicPredictor.task, architecture=NETWORK,
              arguments=dict(cell=cell, hidden_size=8, num_layers=1, dropout=0.0, joint_keys=True),
              description="tiny test variant", shipped=False),
)]


def dataset_of(model: str) -> str:
    """The data set a music model learned, from its name: 'jsb-gru' -> 'jsb', 'test-nottingham-rnn' -> 'nottingham'."""
    return model.removeprefix("test-").split("-")[0]


TASK = Task(
    name=MusicPredictor.task, title="Polyphonic music", predictor=MusicPredictor,
    pipeline=MusicPipeline, headline_metric="validation_nll_per_frame",
    higher_is_better=False, int8_tolerance=0.01, int8_tolerance_relative=True,
    latency_input="one frame, state carried", latency_steps=1, training_unit="epochs",
    models=(*_MODELS, *(int8_variant(spec) for spec in _MODELS if spec.shipped and spec.arguments["cell"] == "lstm")),
)
