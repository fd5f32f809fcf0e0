import pytest

from .states import fixed_machine


@pytest.fixture
def machine(monkeypatch):
    """The few things the real steps read straight from the machine, fixed."""
    fixed_machine(monkeypatch)
