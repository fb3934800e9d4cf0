"""The one way to a model: every task's registered variants (zoo/tasks/*), by name.

Reading the table needs no torch, so the service can list and validate names; `create_model` imports the
task's torch network by its "module:Class" path only when called (training, export and tests).
"""
from __future__ import annotations

import importlib

from zoo.task import ModelSpec, Task
from zoo.tasks import TASKS


class UnknownModelError(KeyError):
    def __init__(self, name: str, valid: list[str]):
        self.name, self.valid = name, valid
        super().__init__(f"unknown model {name!r}; valid names: {', '.join(valid)}")

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return self.args[0]


def _table() -> dict[str, ModelSpec]:
    table: dict[str, ModelSpec] = {}
    for task in TASKS.values():
        for spec in task.models:
            if spec.name in table:
                raise ValueError(f"model {spec.name!r} is registered twice")
            if spec.task != task.name:
                raise ValueError(f"model {spec.name!r} has task {spec.task!r} but is registered by {task.name!r}")
            table[spec.name] = spec
    return table


_REGISTRY = _table()


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise ValueError(f"unknown task {name!r}; tasks are {', '.join(TASKS)}") from None


def list_models(task: str | None = None, shipped: bool | None = True) -> list[str]:
    """Registered model names, of one task or all: shipped=True (default) those whose artifacts ship with the zoo,
    False the others (tiny test-* twins, models registered before their first training), None both."""
    if task is not None:
        get_task(task)
    return sorted(
        name
        for name, spec in _REGISTRY.items()
        if (task is None or spec.task == task) and (shipped is None or spec.shipped == shipped)
    )


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownModelError(name, list_models(shipped=None)) from None


def create_model(name: str, **overrides):
    """Build the torch module of a registered variant; overrides replace its arguments."""
    spec = get_spec(name)
    module, _, class_name = spec.architecture.partition(":")
    # By name, not by an import statement: torch lives behind this call and serving never makes it.
    network = getattr(importlib.import_module(module), class_name)
    return network(**{**spec.arguments, **overrides})
