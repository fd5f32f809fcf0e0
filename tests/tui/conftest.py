import pytest

from .states import fixed_machine


@pytest.fixture
def machine(monkeypatch):
    """The few things the real steps read straight from the machine, fixed."""
    fixed_machine(monkeypatch)


@pytest.fixture
def anyio_backend():
    return "asyncio"  # the pilot tests are async; anyio's plugin (it comes with httpx) runs them
