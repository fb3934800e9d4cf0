"""The `rnnzoo` command (rnnzoo/cli.py) and, for convenience, the in-process API of `zoo`: `rnnzoo.pipeline(task)`
is `zoo.pipeline(task)`. This package sits above the others: it imports zoo, and runs the service, training and
benchmarks as processes, so the base install (no torch) has every command but `train`."""
from zoo import best_model, list_models, load, pipeline

__all__ = ["best_model", "list_models", "load", "pipeline"]
