"""Issue 14 item 1: `jeg-wizard set KEY=VALUE` on the real install. A hub-only setting restarts the hub
alone (the gateway keeps its pid and start time) and shows in what the hub serves; a gateway port another
program holds fails the gateway's start and everything is put back byte for byte, healthy again; bad input
is refused before any change; the status screen's Change settings (the TUI, driven by Textual's pilot) does
the same change and back. Each test leaves the install as it found it (same files, same answers)."""

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


def opens_on(installed, page: str) -> None:
    """A logged-in user's server is sent to /user/<admin>/<page> (the hub's default URL)."""
    L = installed.layout
    with httpx.Client(follow_redirects=True, timeout=30) as c:
        c.get(f"{L.hub_url}/hub/login")
        c.post(
            f"{L.hub_url}/hub/login?next=",
            data={"username": ADMIN, "password": installed.password, "_xsrf": c.cookies.get("_xsrf") or ""},
        )
        deadline = time.monotonic() + 120
        while True:
            r = c.get(f"{L.hub_url}/user/{ADMIN}/")
            if r.url.path.startswith(f"/user/{ADMIN}/{page}"):
                return
            assert time.monotonic() < deadline, f"not sent to /{page}: {r.status_code} {r.url}"
            time.sleep(1)


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
        opens_on(installed, "tree")  # what the hub serves: a logged-in user's server opens on the classic tree
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
    # seen dying, or (a poll blocked by the squatter, the restarts in between) never seen alive
    assert re.search(r"step 'gateway' failed: the process (exited|was not running)", out), out[-4000:]
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


def test_the_status_screen_changes_a_setting_and_back(installed):
    """The TUI's path: status screen -> c (Change settings, pre-filled) -> the diff -> Apply; the hub alone
    restarts, the gateway keeps its pid, the hub serves the new default URL; then back the same way."""
    import asyncio

    from jeg_wizard import files
    from jeg_wizard.tui.screens.settings import ApplyScreen, DiffScreen, SettingsScreen
    from jeg_wizard.tui.status import StatusApp

    from ..tui.states import text_of

    L = installed.layout
    gateway = running(installed, "gateway")
    saved = L.saved_answers.read_bytes()

    async def until(pilot, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            assert time.monotonic() < deadline, f"stuck on {pilot.app.screen}"
            await pilot.pause(0.1)

    async def change(pilot, url: str) -> tuple[str, str, float]:
        """(the diff shown, the result shown, seconds from Apply to the result)"""
        app = pilot.app
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen), 30)
        assert app.screen.widget("hub.default_url").value != url  # pre-filled from the saved answers
        app.screen.widget("hub.default_url").value = url
        await pilot.press("ctrl+n")
        # the screen first, its widgets once mounted (a loaded machine shows the gap)
        await until(pilot, lambda: isinstance(app.screen, DiffScreen) and app.screen.query("#diff-text"), 120)
        diff = text_of(app.screen.query_one("#diff-text"))
        t0 = time.monotonic()
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, ApplyScreen) and app.screen.outcome is not None, 300)
        took = time.monotonic() - t0
        result = text_of(app.screen.query_one("#apply-result"))
        assert app.screen.outcome.ok, result
        await pilot.press("enter")
        await until(pilot, lambda: len(app.screen_stack) == 1, 10)
        return diff, result, took

    async def drive() -> list:
        app = StatusApp(L, interval=0)
        async with app.run_test(size=(100, 30)) as pilot:
            to_tree = await change(pilot, "/tree")
            hub = running(installed, "hub")
            assert running(installed, "gateway") == gateway  # same pid, same start time
            assert 'c.Spawner.default_url = "/tree"' in L.hub_config.read_text()
            assert load(L.saved_answers).hub.default_url == "/tree"
            opens_on(installed, "tree")
            back = await change(pilot, "/lab")
            assert running(installed, "hub")[0] not in (None, hub[0])
            return [to_tree, back]

    t0 = time.monotonic()
    try:
        (diff, result, took), (_, _, took_back) = asyncio.run(drive())
    finally:
        if 'c.Spawner.default_url = "/lab"' not in L.hub_config.read_text():
            set_(installed)  # the way back the CLI's way: the answers file's settings, the file saved as it is
    TIMINGS.append(
        f"TUI change settings hub.default_url: applied in {took:.1f}s, back in {took_back:.1f}s "
        f"(the test {time.monotonic() - t0:.1f}s)"
    )
    assert "set hub.default_url: '/lab' -> '/tree'" in diff and '+c.Spawner.default_url = "/tree"' in diff
    assert "restart: hub" in diff and f"left running: gateway (pid {gateway[0]})" in diff
    assert "✓ Settings changed in" in result and "restarted: hub" in result
    assert running(installed, "gateway") == gateway
    assert 'c.Spawner.default_url = "/lab"' in L.hub_config.read_text()
    assert load(L.saved_answers) == load(installed.answers_path)
    files.atomic_write(L.saved_answers, saved, 0o600)  # the TUI saved the same answers as TOML: the bytes as found
