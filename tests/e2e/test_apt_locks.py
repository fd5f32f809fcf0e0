"""A fresh server's unattended-upgrades (or cloud-init) holds apt's locks for minutes after its first boot:
the install waits for them (dpkg's lock through apt's own DPkg::Lock::Timeout, the package lists' lock by
trying apt-get update again) instead of failing at its first command. Real apt-get on this machine."""

from __future__ import annotations

import fcntl
import os
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from jeg_wizard.actions import packages
from jeg_wizard.answers import parse
from jeg_wizard.engine import make_context
from jeg_wizard.runner import CommandFailed

from .conftest import make_answers

pytestmark = pytest.mark.e2e


@contextmanager
def held(path: str, seconds: float):
    """apt's lock taken as another apt takes it (fcntl), let go after seconds."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
    fcntl.lockf(fd, fcntl.LOCK_EX)
    timer = threading.Timer(seconds, lambda: fcntl.lockf(fd, fcntl.LOCK_UN))
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        fcntl.lockf(fd, fcntl.LOCK_UN)
        os.close(fd)


def test_the_install_waits_for_another_package_manager(tmp_path, monkeypatch):
    monkeypatch.setenv("JEGW_E2E_PASSWORD", "not-used-here-1")
    ctx = make_context(parse(make_answers(tmp_path)), log_to_file=False)
    said: list[str] = []
    ctx.runner.subscribe(said.append)
    t0 = time.monotonic()
    with held("/var/lib/dpkg/lock-frontend", 4):  # an installed package: apt takes the lock, changes nothing
        ctx.runner.run([*packages.apt_get(ctx), "install", "-y", "-q", "coreutils"], env=packages.APT_ENV)
    assert time.monotonic() - t0 >= 3.5
    t0 = time.monotonic()
    with held("/var/lib/apt/lists/lock", 7):
        packages.run_apt(ctx, [*packages.apt_get(ctx), "update", "-q"], every=2)
    assert time.monotonic() - t0 >= 6.5
    assert any(s.startswith("waiting for another package manager to finish (Could not get lock") for s in said)
    with held("/var/lib/apt/lists/lock", 60), pytest.raises(CommandFailed, match="Could not get lock"):
        packages.run_apt(ctx, [*packages.apt_get(ctx), "update", "-q"], wait=3, every=1)  # it gives up, saying why


def test_the_bootstrap_and_tests_run_wait_too():
    """./jeg-wizard installs python3-venv and tests/run the browser before any wizard exists: jeg_wizard/apt.sh."""
    script = Path(__file__).resolve().parents[2] / "jeg_wizard" / "apt.sh"
    t0 = time.monotonic()
    with held("/var/lib/apt/lists/lock", 6):
        r = subprocess.run(
            ["bash", "-c", f"set -euo pipefail; source {script}; apt_update"], capture_output=True, text=True
        )
    assert r.returncode == 0 and time.monotonic() - t0 >= 5.5, r.stderr
    assert "waiting for another package manager to finish" in r.stderr
    with held("/var/lib/dpkg/lock-frontend", 4):
        r = subprocess.run(
            ["bash", "-c", f"source {script}; apt_get install -y -q coreutils"], capture_output=True, text=True
        )
    assert r.returncode == 0 and time.monotonic() - t0 >= 9.5, r.stderr
