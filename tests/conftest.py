"""Shared fixtures: the real data directory (and PhysioNet set-a read from it), the service's app in process,
and a real `bentoml serve` process."""
from __future__ import annotations

import os
from contextlib import contextmanager
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


def forget_bentoml_metrics() -> None:
    """Unregister BentoML's request metrics from prometheus' registry: each app registers them when it starts, and
    a second app in one process (two replicas in one test) would be refused as a duplicate. The first app keeps
    its collectors; they are only no longer exported."""
    from prometheus_client import REGISTRY

    for collector, names in list(REGISTRY._collector_to_names.items()):  # no public way to list them
        if any(name.startswith("bentoml_") for name in names):
            REGISTRY.unregister(collector)


@contextmanager
def in_process(env: dict[str, str] | None = None):
    """The service's ASGI app with every shipped model in this process, its worker started with `env` added to
    the environment (read once, at start-up)."""
    from starlette.testclient import TestClient

    from service.service import RNNZoo

    forget_bentoml_metrics()
    saved = {name: os.environ.get(name) for name in env or {}}
    os.environ.update(env or {})
    try:
        client = TestClient(RNNZoo.to_asgi(), raise_server_exceptions=False)
        client.__enter__()  # the worker starts here, reading the environment
    finally:
        for name, value in saved.items():
            os.environ.pop(name) if value is None else os.environ.__setitem__(name, value)
    try:
        yield InProcess(client)
    finally:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def api():
    """The service's ASGI app with every shipped model, called in this process (see tests.helpers.InProcess)."""
    with in_process() as client:
        yield client


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server on 127.0.0.1 (Debian's; the README's test command installs it), fsyncing every write."""
    from service.local_server import LocalRedis

    with LocalRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server
