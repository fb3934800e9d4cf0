"""Text generation: character-level language models of Tiny Shakespeare, sampled a character at a time."""
from zoo.task import ModelSpec, Task, int8_variant
from zoo.tasks.generation.pipeline import GenerationPipeline
from zoo.tasks.generation.predictor import GenerationPredictor

NETWORK = "zoo.tasks.generation.network:CharLanguageModel"
# 2x512 with dropout 0.25: the 2x256 LSTM plateaued near 1.47 nats/char; twice the width fits the
# 90-minute budget on 2 cores (about 150 s per epoch of 1M characters) and dropout holds off overfitting.
_SHIPPED = dict(vocab_size=65, embedding_dim=64, hidden_size=512, num_layers=2, dropout=0.25)
_TINY = dict(vocab_size=65, embedding_dim=8, hidden_size=16, num_layers=2, dropout=0.0)
_MODELS = [spec for cell in ("rnn", "lstm", "gru") for spec in (
    ModelSpec(name=f"shakespeare-{cell}", task=GenerationPredictor.task, architecture=NETWORK,
              arguments=dict(_SHIPPED, cell=cell),
              description=f"2-layer {cell.upper()} character-level language model of Tiny Shakespeare"),
    ModelSpec(name=f"test-shakespeare-{cell}", task=GenerationPredictor.task, architecture=NETWORK,
              arguments=dict(_TINY, cell=cell), description="tiny test variant", shipped=False),
)]

TASK = Task(
    name=GenerationPredictor.task, title="Text generation (Tiny Shakespeare)", predictor=GenerationPredictor,
    pipeline=GenerationPipeline, headline_metric="validation_loss_nats_per_char",
    higher_is_better=False, int8_tolerance=0.01, int8_tolerance_relative=False,
    latency_input="one character, state carried", latency_steps=1, training_unit="steps",
    models=(*_MODELS, int8_variant(_MODELS[2])),
)
