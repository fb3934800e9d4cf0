"""Shared fixtures: the real data directory (and PhysioNet set-a read from it), the service's app in process,
and a real `bentoml serve` process."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.local_server import local_server
from tests.helpers import REPO, InProcess


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
def set_a(data_dir):
    """PhysioNet 2012 set-a: every stay, and the first 300 parsed (the vitals preprocessing and training tests)."""
    from training.vitals.data import load_physionet
    from zoo.tasks.vitals.records import parse_record_text

    stays = load_physionet("set-a", data_dir)
    return stays, [parse_record_text(s.record_text) for s in stays[:300]]


@pytest.fixture(scope="session")
def vitals_statistics(set_a):
    """Feature statistics fitted on those 300 set-a records."""
    from zoo.tasks.vitals.records import VitalsStatistics

    return VitalsStatistics.fit(set_a[1])


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
