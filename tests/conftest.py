"""One pytest process runs every tier (tests/run): unit, e2e and TUI first, the systemd tier (real
servers, slowest, sharing this machine's ports) last, however the paths were given."""

from pathlib import Path

import pytest

SYSTEMD = Path(__file__).parent / "systemd"


@pytest.hookimpl(trylast=True)  # after pytest groups the tests by their parametrized fixtures
def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: Path(item.path).is_relative_to(SYSTEMD))  # stable: the rest keep their order
