"""Fixtures of the in-process service tests."""
import pytest

from service.service import RNNZoo


@pytest.fixture(scope="module")
def zoo_service() -> RNNZoo:
    """The service class itself, every shipped model loaded: its methods called directly, without HTTP."""
    return RNNZoo()
