from pathlib import Path

import pytest

from jeg_wizard import distro
from jeg_wizard.answers import parse

DEBIAN12 = distro.Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")
CANARY = "Canary-Pass-7f3a9"


@pytest.fixture
def tmp_answers(tmp_path, monkeypatch):
    """Answers pointing every path into tmp_path (nothing outside is touched)."""
    monkeypatch.setenv("JEGW_TEST_PASSWORD", CANARY)
    envfile = tmp_path / "etc" / "environment"
    envfile.parent.mkdir(parents=True)
    envfile.write_text('PATH="/usr/bin:/bin"\n# keep me\n')

    def make(**over):
        data = {
            "system": {
                "prefix": str(tmp_path / "opt"),
                "state_dir": str(tmp_path / "state"),
                "log_dir": str(tmp_path / "log"),
            },
            "environment": {"file": str(envfile)},
            "kernels": {"dir": str(tmp_path / "share" / "jupyter" / "kernels")},
            "hub": {"config_dir": str(tmp_path / "etc" / "jupyter"), "ip": "127.0.0.1"},
            "users": {"admin": "jegwnobody", "admin_password_env": "JEGW_TEST_PASSWORD"},
            "services": {"manager": "process"},
        }
        for section, values in over.items():
            data.setdefault(section, {}).update(values)
        return parse(data, DEBIAN12)

    return make


@pytest.fixture(autouse=True)
def plain_pip_config(monkeypatch):
    """Plans do not depend on this machine's pip configuration (its mirrors, constraints, PIP_* variables)."""
    from jeg_wizard.actions import python_envs

    monkeypatch.setattr(python_envs, "pip_config", lambda: {})
    monkeypatch.setattr(python_envs, "DISTRO_WHEELS", Path("/nonexistent/python-wheels"))  # nor on its ensurepip
