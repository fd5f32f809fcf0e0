"""Issue 14 item 1: `jeg-wizard set KEY=VALUE` on the real install. A hub-only setting restarts the hub
alone (the gateway keeps its pid and start time) and shows in what the hub serves; a gateway port another
program holds fails the gateway's start and everything is put back byte for byte, healthy again; bad input
is refused before any change. Each test leaves the install as it found it (same files, same answers)."""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

import httpx
import pytest

from jeg_wizard.answers import load
from jeg_wizard.engine import _start_time
from jeg_wizard.services import ProcessManager

from .conftest import ADMIN, TIMINGS, free_ports, wizard
from .test_faults import healthy_again

pytestmark = pytest.mark.e2e


def set_(installed, *pairs: str, timeout: float = 600):
    t0 = time.monotonic()
    r = wizard("set", *pairs, "--answers", str(installed.answers_path), env=installed.env, timeout=timeout)
    return r, r.stdout + r.stderr, time.monotonic() - t0


def running(installed, name: str) -> tuple[int | None, str]:
    pid = ProcessManager(installed.layout.services_dir).pid(name)
    return pid, _start_time(pid) if pid else ""


def watched(installed) -> dict:
    """Every file a setting could rewrite, and the services' recorded specs: bytes and mode."""
    L = installed.layout
    paths = [
        *L.config_dir.rglob("*"),
        *L.kernels_root.rglob("*"),
        L.a.environment.file,
        L.hub_env_file,
        L.lab_overrides,
        *L.services_dir.glob("*.json"),
    ]
    return {str(p): (Path(p).read_bytes(), Path(p).stat().st_mode) for p in paths if Path(p).is_file()}


def test_hub_only_setting_restarts_the_hub_alone(installed):
    L = installed.layout
    healthy_again(installed)
    gateway, hub = running(installed, "gateway"), running(installed, "hub")
    assert load(L.saved_answers) == load(installed.answers_path)
    saved = L.saved_answers.read_bytes()
    try:
        dry, out, _ = set_(installed, "hub.default_url=/tree", "--dry-run")
        assert dry.returncode == 0, out
        assert '+c.Spawner.default_url = "/tree"' in out and "Nothing was changed (dry run)" in out
        assert running(installed, "hub") == hub and L.saved_answers.read_bytes() == saved

        r, out, took = set_(installed, "hub.default_url=/tree")
        TIMINGS.append(f"set hub.default_url (hub restarted, gateway kept): {took:.1f}s")
        assert r.returncode == 0, out[-4000:]
        assert "set hub.default_url: '/lab' -> '/tree'" in out
        assert "restart: hub\n" in out and f"left running: gateway (pid {gateway[0]})" in out
        assert running(installed, "gateway") == gateway  # same pid, same start time
        assert running(installed, "hub")[0] not in (None, hub[0])
        assert 'c.Spawner.default_url = "/tree"' in L.hub_config.read_text()
        assert load(L.saved_answers).hub.default_url == "/tree"  # the saved copy: after the success
        # what the hub serves: a logged-in user's server opens on the classic tree
        with httpx.Client(follow_redirects=True, timeout=30) as c:
            c.get(f"{L.hub_url}/hub/login")
            c.post(
                f"{L.hub_url}/hub/login?next=",
                data={"username": ADMIN, "password": installed.password, "_xsrf": c.cookies.get("_xsrf") or ""},
            )
            deadline = time.monotonic() + 120
            while True:
                page = c.get(f"{L.hub_url}/user/{ADMIN}/")
                if page.url.path.startswith(f"/user/{ADMIN}/tree"):
                    break
                assert time.monotonic() < deadline, f"not sent to the tree: {page.status_code} {page.url}"
                time.sleep(1)
    finally:  # back as a re-run with the (unedited) answers file: its settings applied, the file saved as it is
        back, out, took = set_(installed)
        TIMINGS.append(f"set --answers FILE (hub.default_url back): {took:.1f}s")
        assert back.returncode == 0, out[-4000:]
        assert "set hub.default_url: '/tree' -> '/lab'" in out
    assert 'c.Spawner.default_url = "/lab"' in L.hub_config.read_text()
    assert L.saved_answers.read_bytes() == saved
    assert running(installed, "gateway") == gateway
    healthy_again(installed)


def test_gateway_port_held_by_another_program_is_rolled_back(installed):
    L = installed.layout
    healthy_again(installed)
    before = watched(installed)
    saved = L.saved_answers.read_bytes()
    (port,) = free_ports(1)
    with socket.socket() as squatter:
        squatter.bind((L.a.gateway.ip, port))
        squatter.listen()
        r, out, took = set_(installed, f"gateway.port={port}")
    assert r.returncode == 1, out[-4000:]
    assert "set FAILED; nothing of it is left" in out, out[-4000:]
    assert "step 'gateway' failed: the process exited" in out, out[-4000:]
    assert f"gateway.port: port {port} on {L.a.gateway.ip} is in use by another program" in out, out[-4000:]
    m = re.search(r"rolled back in ([0-9.]+)s \(([^)]*)\); healthy again", out)
    assert m, out[-4000:]
    TIMINGS.append(
        f"set gateway.port (held by another program): failed and rolled back in {m[1]}s ({m[2]}); whole run {took:.1f}s"
    )
    after = watched(installed)
    assert after.keys() == before.keys()
    assert [p for p in before if before[p] != after[p]] == []  # byte for byte, mode too
    assert L.saved_answers.read_bytes() == saved
    healthy_again(installed)


def test_bad_input_is_refused_before_any_change(installed):
    L = installed.layout
    before, saved = watched(installed), L.saved_answers.read_bytes()
    gateway, hub = running(installed, "gateway"), running(installed, "hub")
    cases = {
        "gateway.port=99999": "gateway.port: must be an integer between 1 and 65535, got 99999",
        "hub.defalt_url=/tree": "hub.defalt_url: unknown key; did you mean 'hub.default_url'?",
        "system.prefix=/srv": "system.prefix: not changed by `set`: moves the install",
        # an account is install's work: found from what the change would do, not from a list
        "gateway.user=jegwnosuchuser": "`set` only writes config files and restarts services; this change also "
        "needs: user jegwnosuchuser",
    }
    for pair, said in cases.items():
        r, out, _ = set_(installed, pair)
        assert r.returncode == 2 and said in out and "nothing was changed" in out, out[-3000:]
    assert watched(installed) == before and L.saved_answers.read_bytes() == saved
    assert running(installed, "gateway") == gateway and running(installed, "hub") == hub
