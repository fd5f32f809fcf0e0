"""One pytest process runs every tier (tests/run): unit, e2e and TUI first, the systemd tier (real
servers, slowest, sharing this machine's ports) last, however the paths were given."""

import os
from pathlib import Path

import pytest

SYSTEMD = Path(__file__).parent / "systemd"


@pytest.hookimpl(trylast=True)  # after pytest groups the tests by their parametrized fixtures
def pytest_collection_modifyitems(session, config, items):
    items.sort(key=lambda item: Path(item.path).is_relative_to(SYSTEMD))  # stable: the rest keep their order


@pytest.fixture(scope="session", autouse=True)
def _own_cache_dir(tmp_path_factory):
    """The answers and render caches (jeg_wizard.answers_cache) of this run's wizards, in and out of
    process, go to a directory of the run's own, not to ~/.cache."""
    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old
