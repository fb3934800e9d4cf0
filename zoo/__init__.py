"""RNN Zoo: registry, model cards, shared preprocessing and the shipped ONNX artifacts.

In process, without torch: `zoo.pipeline(task)` is a task's best model with plain-Python inputs and outputs,
answering as the task's HTTP endpoint does; `zoo.load(name)` is one model's verified predictor;
`zoo.list_models(task=...)` names what ships (README: Use it from Python and the shell).

Layout: zoo/task.py says what a task is; zoo/tasks/<task>/ holds each task's preprocessing, predictor,
torch network and registration; the other modules are shared machinery that names no task.
"""
from __future__ import annotations

import importlib

# Loaded on first use, not at `import zoo`: the registry imports every task (tokenizers, mido...), and a module
# that needs only numpy, such as zoo.sampling or zoo.cells in the learner notebook, should not pull them in.
_EXPORTS = {name: "zoo.registry" for name in ("UnknownModelError", "create_model", "get_spec", "get_task",
                                              "list_models")} | {name: "zoo.runtime" for name in
                                                                 ("best_model", "load", "pipeline")}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'zoo' has no attribute {name!r}")
