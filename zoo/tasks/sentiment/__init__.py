"""Sentiment: SST-2 sentences -> positive/negative, bidirectional recurrent classifiers over WordPiece tokens."""
from zoo.task import ModelSpec, Task, int8_variant
from zoo.tasks.sentiment.pipeline import SentimentPipeline
from zoo.tasks.sentiment.predictor import SentimentPredictor

NETWORK = "zoo.tasks.sentiment.network:SentimentClassifier"
# The embedding table is 30,522 x 128 so the shipped fp16 file stays under 10 MB; training starts
# it from MiniLM's 384-d word embeddings through a learned projection that export folds in.
_SHIPPED = dict(vocab_size=30522, embedding_dim=128, hidden_size=256, num_layers=1, bidirectional=True,
                dropout=0.3, num_classes=2)
# Tiny twins so tests build, train and export every cell type in seconds.
_TINY = dict(vocab_size=30522, embedding_dim=8, hidden_size=8, num_layers=2, bidirectional=True, dropout=0.0,
             num_classes=2)
_MODELS = [spec for cell in ("rnn", "lstm", "gru") for spec in (
    ModelSpec(name=f"sst2-{cell}", task=SentimentPredictor.task, architecture=NETWORK,
              arguments=dict(_SHIPPED, cell=cell),
              description=f"Bidirectional {cell.upper()} sentiment classifier over WordPiece tokens (SST-2)"),
    ModelSpec(name=f"test-sst2-{cell}", task=SentimentPredictor.task, architecture=NETWORK,
              arguments=dict(_TINY, cell=cell), description="tiny test variant", shipped=False),
)]

TASK = Task(
    name=SentimentPredictor.task, title="Sentiment (SST-2)", predictor=SentimentPredictor,
    pipeline=SentimentPipeline, headline_metric="accuracy", higher_is_better=True,
    int8_tolerance=0.005, int8_tolerance_relative=False,
    latency_input="one sentence of 24 tokens", latency_steps=24, training_unit="epochs",
    # int8: only the LSTM, as for every task: onnxruntime has int8 kernels for LSTM but not GRU or RNN
    models=(*_MODELS, int8_variant(_MODELS[2])),
)
