"""Fixtures of the engine's tests."""

import pytest

from tests.sync.fieldwork import Server


@pytest.fixture
def server() -> Server:
    """The engine behind a memory store and the field-work double, run as the HTTP layer will."""
    return Server()
