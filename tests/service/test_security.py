"""What reaches the disk and the unpickler from outside: model names are looked up, never joined into paths,
and nothing on a load path can execute code from a file."""
import ast

import pytest
from bentoml.exceptions import NotFound

from tests.helpers import REPO

SOURCES = sorted(p for folder in ("zoo", "service", "training") for p in (REPO / folder).rglob("*.py"))


@pytest.mark.parametrize("name", ["../sst2-lstm", "sst2-lstm/../sst2-gru", "/etc/passwd", "sst2-lstm\x00",
                                  "..", "zoo/artifacts/sst2-lstm", "SST2-LSTM"])
def test_model_names_are_looked_up_never_used_as_paths(zoo_service, name):
    with pytest.raises(NotFound, match="unknown model"):
        zoo_service.model("sentiment", name)


def calls(tree: ast.AST, attribute: str) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == attribute]


def keyword(call: ast.Call, name: str):
    return next((kw.value.value for kw in call.keywords if kw.arg == name and isinstance(kw.value, ast.Constant)),
                None)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_no_unpickling_anywhere(path):
    tree = ast.parse(path.read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
                for alias in node.names} | {node.module.split(".")[0] for node in ast.walk(tree)
                                            if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"pickle", "dill", "joblib", "cloudpickle", "shelve"}
    for call in calls(tree, "load"):
        owner = call.func.value.id if isinstance(call.func.value, ast.Name) else None
        if owner == "torch":
            assert keyword(call, "weights_only") is True, f"{path}:{call.lineno} torch.load without weights_only=True"
        if owner == "np":
            assert keyword(call, "allow_pickle") in (None, False), f"{path}:{call.lineno} np.load(allow_pickle=True)"
