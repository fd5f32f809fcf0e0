"""Change settings from the status screen (issue 14 item 1, the TUI's `jeg-wizard set`): the questions
pre-filled from the install's saved answers, refused keys and bad values named before anything changes,
the diff, Cancel, and Apply. Over a real install of one step (the hub config, written into a temp
directory by the real engine) and the real settings.prepare/render/apply; the machine-wide checks of the
gate (root, ports, node...) are this box's and fixed to pass, as in test_gate. The real change on a
running install: tests/e2e/test_set.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import tomli_w
import tomllib

from jeg_wizard import preflight
from jeg_wizard.answers import load, parse
from jeg_wizard.engine import Engine, make_context
from jeg_wizard.layout import Layout
from jeg_wizard.steps import for_role, hub_config
from jeg_wizard.tui.form import FIELDS
from jeg_wizard.tui.screens.settings import ApplyScreen, DiffScreen, SettingsScreen
from jeg_wizard.tui.status import StatusApp

from .states import settle, steady, text_of
from .test_status_screen import HEALTHY, fixed

pytestmark = pytest.mark.anyio

ROOT = Path("/tmp/jegw-tui-settings")  # fixed: the diff names its paths, and the snapshot shows it
SIZE = (100, 30)


@pytest.fixture
def install(machine, monkeypatch):
    """The hub config step installed for real under ROOT, and the install's saved answers."""
    shutil.rmtree(ROOT, ignore_errors=True)
    data = {
        "system": {"prefix": f"{ROOT}/opt", "state_dir": f"{ROOT}/state", "log_dir": f"{ROOT}/log"},
        "environment": {"file": f"{ROOT}/etc/environment"},
        "kernels": {"dir": f"{ROOT}/share/jupyter/kernels"},
        "hub": {"config_dir": f"{ROOT}/etc/jupyter"},
        "services": {"manager": "process", "start": False},
    }
    a = parse(data)
    Engine(make_context(a), [hub_config.STEP]).run_step(hub_config.STEP)
    L = Layout(a)
    L.saved_answers.write_text(tomli_w.dumps(data))
    L.saved_answers.chmod(0o600)
    monkeypatch.setattr(preflight, "problems", lambda a, need_root=True, role="all", bundle=None: [])
    yield L
    shutil.rmtree(ROOT, ignore_errors=True)


def files(root: Path = ROOT) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.suffix != ".log"}


def status(layout: Layout, steps=lambda role: [hub_config.STEP]) -> StatusApp:
    return StatusApp(layout, check=fixed(HEALTHY), interval=0, clock=lambda s: "checked 12:00:00", steps=steps)


async def open_settings(pilot) -> SettingsScreen:
    await settle(pilot, lambda: pilot.app.polls > 0)
    await pilot.press("c")
    await settle(pilot, lambda: isinstance(pilot.app.screen, SettingsScreen))
    return pilot.app.screen


async def put(pilot, path: str, value) -> None:
    """A field's new value, as the operator leaves it (the form checks a field on blur)."""
    screen = pilot.app.screen
    if FIELDS[path].advanced:  # under "More settings": mounted when opened
        await screen.open_more(FIELDS[path].section)
    w = screen.widget(path)
    w.value = value
    screen.touched.add(path)
    await pilot.pause()


async def to_diff(pilot) -> DiffScreen:
    await open_settings(pilot)
    await put(pilot, "hub.default_url", "/tree")
    await pilot.press("ctrl+n")
    await settle(pilot, lambda: isinstance(pilot.app.screen, DiffScreen))
    return pilot.app.screen


async def test_the_questions_open_prefilled_from_the_saved_answers(install):
    data = tomllib.loads(install.saved_answers.read_text())
    data["hub"]["default_url"] = "/tree"
    data["gateway"] = {"port": 8899}
    install.saved_answers.write_text(tomli_w.dumps(data))
    async with status(install).run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        assert form.widget("hub.default_url").value == "/tree"
        assert form.widget("gateway.port").value == "8899"
        assert form.widget("services.start").value is False
        assert form.widget("system.prefix").value == f"{ROOT}/opt"
        assert not form.query("#f-users-admin_password") and not form.query("#f-users-admin_password_confirm")
        # a refused key says why on focus, before any change
        form.widget("system.prefix").focus()
        await pilot.pause()
        assert "not changed by `set`: moves the install" in text_of(form.query_one("#field-help"))
        await pilot.press("escape")
        await settle(pilot, lambda: len(pilot.app.screen_stack) == 1)


async def test_nothing_changed_says_so(install):
    before = files()
    async with status(install).run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        await pilot.press("ctrl+n")
        await pilot.pause(0.2)
        assert pilot.app.screen is form
        assert "Nothing to change: the install already has these settings" in text_of(form.query_one("#problems"))
    assert files() == before


async def test_a_refused_key_is_refused_with_its_reason_and_nothing_changes(install):
    before = files()
    async with status(install).run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        await put(pilot, "system.prefix", "/srv/elsewhere")
        await put(pilot, "hub.default_url", "/tree")
        await put(pilot, "gateway.port", "0")
        await pilot.press("ctrl+n")
        await pilot.pause(0.2)
        assert pilot.app.screen is form
        shown = text_of(form.query_one("#e-system-prefix"))
        assert "not changed by `set`: moves the install; to move it: jeg-wizard uninstall" in shown, shown
        # the other fields' problems too, at the same time
        assert "must be an integer between 1 and 65535" in text_of(form.query_one("#e-gateway-port"))
        assert "2 answers to fix: system.prefix, gateway.port" in text_of(form.query_one("#problems"))
    assert files() == before


async def test_an_invalid_value_names_its_key_and_what_is_allowed(install):
    before = files()
    async with status(install).run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        await put(pilot, "gateway.port", "70000")
        await pilot.press("ctrl+n")
        await pilot.pause(0.2)
        assert pilot.app.screen is form
        assert "must be an integer between 1 and 65535, got 70000" in text_of(form.query_one("#e-gateway-port"))
        assert "gateway.port" in text_of(form.query_one("#problems"))
    assert files() == before


async def test_what_prepare_refuses_is_shown_on_the_form(install):
    """A change that needs more than files and restarts (here: a new account) is install's work."""
    async with status(install, steps=for_role).run_test(size=SIZE) as pilot:
        form = await open_settings(pilot)
        await put(pilot, "users.admin", "jegwnosuchadmin")
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: not form.preparing and form.late is not None, timeout=60)
        said = text_of(form.query_one("#e-users-admin"))  # prepare's problems start with the key, routed to it
        assert "`set` only writes config files and restarts services; this change also needs:" in said, said
        # the field shows the message shortened to its width; the whole of it names the account
        assert any("user jegwnosuchadmin" in p for p in form.late[1]), form.late[1]
        assert "users.admin" in text_of(form.query_one("#problems"))
        assert pilot.app.screen is form


async def test_the_diff_then_cancel_changes_nothing(install):
    before, saved = files(), install.saved_answers.read_bytes()
    async with status(install).run_test(size=SIZE) as pilot:
        diff = await to_diff(pilot)
        shown = text_of(diff.query_one("#diff-text"))
        assert "set hub.default_url: '/lab' -> '/tree'" in shown
        assert f"# the hub_config step writes {install.hub_config}:" in shown
        assert '-c.Spawner.default_url = "/lab"' in shown and '+c.Spawner.default_url = "/tree"' in shown
        assert "restart: nothing" in shown
        # the panels' keys are not the diff's (the footer shows this screen's only)
        assert not any(pilot.app.check_action(a, ()) for a in ("log", "smoke", "change_settings", "refresh"))
        await pilot.press("n")
        await settle(pilot, lambda: len(pilot.app.screen_stack) == 1)
        assert pilot.app.screen.query_one("#summary")  # the status panels again
    assert files() == before and install.saved_answers.read_bytes() == saved


async def test_apply_writes_the_change_and_saves_the_answers(install):
    async with status(install).run_test(size=SIZE) as pilot:
        await to_diff(pilot)
        await pilot.press("a")
        await settle(pilot, lambda: isinstance(pilot.app.screen, ApplyScreen) and pilot.app.screen.outcome, 60)
        screen = pilot.app.screen
        assert screen.outcome.ok
        result = text_of(screen.query_one("#apply-result"))
        assert "✓ Settings changed in" in result and f"saved answers: {install.saved_answers}" in result
        from jeg_wizard.tui.widgets import LogStream

        assert any("hub_config" in line for line in screen.query_one(LogStream).lines)
        await pilot.press("enter")
        await settle(pilot, lambda: len(pilot.app.screen_stack) == 1)
    assert 'c.Spawner.default_url = "/tree"' in install.hub_config.read_text()
    assert load(install.saved_answers).hub.default_url == "/tree"


def test_diff_snapshot(snap_compare, install):
    assert snap_compare(status(install), terminal_size=SIZE, run_before=steady(to_diff))


async def test_a_failed_apply_shows_what_failed_and_the_rollback(install):
    """The hub config replaced by a directory after the diff: the step's write fails, nothing is left."""
    saved = install.saved_answers.read_bytes()
    async with status(install).run_test(size=SIZE) as pilot:
        await to_diff(pilot)
        install.hub_config.unlink()
        install.hub_config.mkdir()
        await pilot.press("a")
        await settle(pilot, lambda: isinstance(pilot.app.screen, ApplyScreen) and pilot.app.screen.outcome, 60)
        screen = pilot.app.screen
        result = text_of(screen.query_one("#apply-result"))
        assert "set FAILED; nothing of it is left (the saved answers unchanged)" in result, result
        assert "step 'hub_config' failed:" in result and "rolled back in" in result and "healthy again" in result
        assert "failed; rolled back" in text_of(screen.query_one("#apply-label"))
    assert install.saved_answers.read_bytes() == saved
