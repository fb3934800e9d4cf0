"""Shared fixtures: the real data directory, the service's app in process, and a real `bentoml serve` process."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.local_server import local_server
from tests.helpers import InProcess

REPO = Path(__file__).resolve().parent.parent


def real_data_dir() -> Path | None:
    """$RNNZOO_DATA if set, else ../shared/data beside the checkout; None if SST-2 is not there."""
    candidate = Path(os.environ.get("RNNZOO_DATA") or REPO.parent / "shared" / "data")
    return candidate if (candidate / "sst2" / "dev.tsv").exists() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = real_data_dir()
    if path is None:
        pytest.skip("real data not found: set RNNZOO_DATA to a folder holding sst2/train.tsv and sst2/dev.tsv")
    return path


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> str:
    log_path = tmp_path_factory.mktemp("server") / "bentoml.log"
    with local_server(log_path) as url:
        yield url


@pytest.fixture(scope="session")
def api():
    """The service's ASGI app with every shipped model, called in this process (see tests.helpers.InProcess)."""
    from starlette.testclient import TestClient

    from service.service import RNNZoo

    with TestClient(RNNZoo.to_asgi(), raise_server_exceptions=False) as client:
        yield InProcess(client)
