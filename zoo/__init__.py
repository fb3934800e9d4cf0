"""RNN Zoo: registry, model cards, shared preprocessing and the shipped ONNX artifacts.

Layout: zoo/task.py says what a task is; zoo/tasks/<task>/ holds each task's preprocessing, predictor,
torch network and registration; the other modules are shared machinery that names no task.
"""
from zoo.registry import UnknownModelError, create_model, get_spec, get_task, list_models

__all__ = ["UnknownModelError", "create_model", "get_spec", "get_task", "list_models"]
