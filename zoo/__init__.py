"""RNN Zoo: registry, model cards, shared preprocessing and the shipped ONNX artifacts.

In process, without torch: `zoo.pipeline(task)` is a task's best model with plain-Python inputs and outputs,
answering as the task's HTTP endpoint does; `zoo.load(name)` is one model's verified predictor;
`zoo.list_models(task=...)` names what ships (README: Use it from Python and the shell).

Layout: zoo/task.py says what a task is; zoo/tasks/<task>/ holds each task's preprocessing, predictor,
torch network and registration; the other modules are shared machinery that names no task.
"""
from zoo.registry import UnknownModelError, create_model, get_spec, get_task, list_models
from zoo.runtime import best_model, load, pipeline

__all__ = ["UnknownModelError", "best_model", "create_model", "get_spec", "get_task", "list_models", "load", "pipeline"]
