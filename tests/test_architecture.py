"""The layers and their arrows, read from the source with `ast` (lazy imports inside functions included):
no import cycles, nothing against training -> zoo <- service, the served bento free of torch and training,
and task names only in each task's own files."""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO
from zoo.tasks import TASKS

PACKAGES = ("zoo", "service", "training", "benchmarks", "rnnzoo")
# What each layer must not import (training -> zoo <- service; benchmarks may import anything; the rnnzoo
# command imports zoo and runs the service, training and benchmarks as child processes).
FORBIDDEN = {"zoo": {"service", "training", "benchmarks", "rnnzoo"}, "service": {"training", "benchmarks", "rnnzoo"},
             "training": {"service", "benchmarks", "rnnzoo"}, "benchmarks": set(), "rnnzoo": {"service", "training",
                                                                                                "benchmarks"}}
# The served bento's dependencies (pyproject.toml's [project] dependencies) and what bentoml itself brings; nothing else may be imported.
SERVED_THIRD_PARTY = {"bentoml", "onnxruntime", "numpy", "pydantic", "tokenizers", "mido", "uvloop", "httptools",
                      "starlette", "prometheus_client", "redis",  # redis: the shared session store's client
                      "_bentoml_sdk"}  # in BentoML's own wheel: service/patches.py patches its APIMethod


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


MODULES = modules()


def imports(name: str, path: Path) -> tuple[set[str], set[str]]:
    """(project modules, third-party top-level packages) that `name` imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    project, external = set(), set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in PACKAGES:
                while target and target not in MODULES:  # `from a.b import name` is an arrow to a.b
                    target = target.rpartition(".")[0]
                if target and target != name:
                    project.add(target)
            elif target:
                external.add(target.split(".")[0])
    return project, external


GRAPH = {name: imports(name, path) for name, path in MODULES.items()}


def cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in GRAPH[module][0]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    return found


def test_there_are_no_import_cycles():
    assert cycles() == []


def test_no_arrow_goes_against_the_layers():
    against = [(source, target) for source, (targets, _) in GRAPH.items() for target in targets
               if target.split(".")[0] in FORBIDDEN[source.split(".")[0]]]
    assert against == []


def test_the_served_bento_imports_neither_torch_nor_training():
    reached, todo = set(), ["service.service"]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo.extend(GRAPH[module][0])
    assert not any(module.split(".")[0] in ("training", "benchmarks") for module in reached)
    third_party = {package for module in reached for package in GRAPH[module][1]} - set(sys.stdlib_module_names)
    assert third_party <= SERVED_THIRD_PARTY, sorted(third_party - SERVED_THIRD_PARTY)
    assert "torch" not in third_party and "onnx" not in third_party


def in_task_files(module: str) -> bool:
    """A task's own files: its folders (zoo/tasks/<task>/, training/<task>/), its service module
    (service/tasks/<task>.py and helpers named after it), the registrations, and the benchmarks."""
    parts = module.split(".")
    return (module in ("zoo.tasks", "service.tasks", "training.tasks") or parts[0] == "benchmarks"
            or any(part in TASKS or part.split("_")[0] in TASKS for part in parts[1:]))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_a_tasks_own_files_name_it(module):
    quoted = re.compile(r"""["'](%s)["']""" % "|".join(TASKS))
    if not in_task_files(module):
        assert not quoted.findall(MODULES[module].read_text(encoding="utf-8"))


def test_the_checker_sees_every_package():
    assert {name.split(".")[0] for name in MODULES} == set(PACKAGES)
    assert len(GRAPH) > 50


def test_every_task_is_registered_once_in_each_layer():
    """A task is its folders plus one line in each layer's registration: the three lists name the same tasks."""
    from service.tasks import ENDPOINTS, SESSIONS
    from training.tasks import TRAINING_TASKS

    assert set(TRAINING_TASKS) == set(TASKS)
    served = {endpoints.__module__.rpartition(".")[2] for endpoints in ENDPOINTS}
    assert served == set(TASKS) and len(ENDPOINTS) == len(TASKS)
    for task in TASKS.values():
        assert task.predictor.task == task.name and all(spec.task == task.name for spec in task.models)
        assert callable(task.predictor.run)
        if task.name in SESSIONS:  # sessions step a recurrent state: the predictor must be a StatefulPredictor
            assert callable(task.predictor.step) and callable(task.predictor.initial_state)
