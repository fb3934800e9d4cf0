"""German-English translation: recurrent encoder-decoders with attention trained on Multi30k, decoded by beam
search around a one-step decoder graph."""
from zoo.task import ModelSpec, Task
from zoo.tasks.translation.pipeline import TranslationPipeline
from zoo.tasks.translation.predictor import TranslationPredictor

NETWORK = "zoo.tasks.translation.network:Translator"
# Subword vocabularies: 6,000 German and 5,000 English pieces (BPE on the training split); the sizes are part of
# the network's shape, so they live here beside the widths.
_TRAINED = ("rnn", "lstm", "gru")  # every cell is shipped; a cell is registered before its first training
_SHIPPED = dict(source_vocab=6000, target_vocab=5000, embedding_dim=256, encoder_size=256, hidden_size=384,
                dropout=0.3)
_MODELS = tuple(spec for cell in ("rnn", "lstm", "gru") for spec in (
    ModelSpec(name=f"multi30k-de-en-{cell}", task=TranslationPredictor.task, architecture=NETWORK,
              arguments=dict(_SHIPPED, cell=cell),
              description=f"bidirectional {cell.upper()} encoder, {cell.upper()} decoder with attention, "
                          "German to English (Multi30k)", shipped=cell in _TRAINED),
    ModelSpec(name=f"test-multi30k-de-en-{cell}", task=TranslationPredictor.task, architecture=NETWORK,
              arguments=dict(source_vocab=120, target_vocab=100, embedding_dim=8, encoder_size=6, hidden_size=10,
                             dropout=0.0, cell=cell), description="tiny test variant", shipped=False),
))

TASK = Task(
    name=TranslationPredictor.task, title="German to English (Multi30k)", predictor=TranslationPredictor,
    pipeline=TranslationPipeline, headline_metric="bleu_beam",
    higher_is_better=True, int8_tolerance=0.5, int8_tolerance_relative=False,
    latency_input="one subword written for one hypothesis, state carried", latency_steps=1, training_unit="epochs",
    models=_MODELS,
)
