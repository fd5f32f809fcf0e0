"""The app states the snapshot tests and `screenshots/make.py` render: the real steps through a
recording runner, fixed machine facts, fixed health readings and a fake clock, so every render
is the same on any machine (paths under /demo, which nothing creates)."""

from __future__ import annotations

import itertools
import platform
from collections.abc import Awaitable, Callable
from pathlib import Path

from jeg_wizard import distro
from jeg_wizard.answers import Answers, parse
from jeg_wizard.checks import Finding
from jeg_wizard.engine import Engine, make_context
from jeg_wizard.health import Smoke
from jeg_wizard.runner import DryRunRunner
from jeg_wizard.tui.app import WizardApp, build_app
from jeg_wizard.tui.facts import EarlierInstall, Facts
from jeg_wizard.tui.probes import Probe

DEBIAN12 = distro.Distro("debian", "12", "Debian GNU/Linux 12 (bookworm)")
ROOT = "/demo"  # nothing on a real machine: every step plans "to do", every file diff is a new file
PASSWORD = "Demo-Passw0rd"
SIZE = (80, 24)

FACTS = Facts(
    distribution="Debian GNU/Linux 12 (bookworm)",
    python="3.11.2 (/usr/bin/python3)",
    java="not installed",
    node="20.19.2",
    systemd=True,
    root=True,
    ports_in_use=("hub.hub_port 8081",),
    earlier=EarlierInstall(f"{ROOT}/var/lib/jeg-wizard/journal.jsonl", ("system", "java", "spark")),
)

READINGS = {  # what the quick checks say on a healthy install, but the Spark master
    "gateway": [
        Finding("gateway", "token required", "ok", "HTTP 401 without the token"),
        Finding("gateway", "version", "ok", "JEG 3.3.0 (jupyter_server 1.24.0)"),
    ],
    "hub": [Finding("hub", "public URL", "ok", "JupyterHub 6.1.0 at http://127.0.0.1:8000")],
    "proxy": [Finding("proxy", "API", "ok", "2 routes: /, /user/hubadmin/")],
    "spark": [
        Finding(
            "spark",
            "master",
            "problem",
            "spark://127.0.0.1:7077 is unreachable (http://127.0.0.1:8080/json/ does not answer)",
            "jeg-wizard services restart spark-master spark-worker",
        )
    ],
    "kernels": [
        Finding(
            "kernels",
            "jvm archive",
            "ok",
            f"the driver's class archive {ROOT}/opt/jeg/kernel-jvm/spark-driver.jsa is being written in the "
            "background (pid 4242): kernels started before it is done start without it",
        )
    ],
}


def demo_answers(**over):
    data = {
        "system": {
            "prefix": f"{ROOT}/opt",
            "state_dir": f"{ROOT}/var/lib/jeg-wizard",
            "log_dir": f"{ROOT}/var/log/jeg-wizard",
        },
        "environment": {"file": f"{ROOT}/etc/environment"},
        "kernels": {"dir": f"{ROOT}/usr/local/share/jupyter/kernels"},
        "hub": {"config_dir": f"{ROOT}/etc/jupyter"},
        "services": {"manager": "process"},
    }
    for section, values in over.items():
        data.setdefault(section, {}).update(values)
    return parse(data, DEBIAN12)


class _NoDemoUsers:
    """pwd as if the demo's users did not exist: whether the admin or the gateway's system user exists
    on this box (an install here, an e2e session still running in the same pytest process) changes
    what the real steps plan, hence the run screen's log."""

    def __init__(self, real, names):
        self.real, self.names = real, names

    def getpwnam(self, name):
        if name in self.names:
            raise KeyError(name)
        return self.real.getpwnam(name)

    def __getattr__(self, attr):
        return getattr(self.real, attr)


class _StoppedClock:
    """The engine's `time` as seen by its "== step: ok in 0.0s" lines: always the same instant."""

    def __getattr__(self, attr):
        import time

        return getattr(time, attr)

    @staticmethod
    def monotonic() -> float:
        return 0.0


def fixed_machine(monkeypatch) -> None:
    """What the real steps ask the machine directly: node's version, the CPU, the distribution, users;
    and the engine's clock."""
    import pwd

    from jeg_wizard import engine
    from jeg_wizard.actions import users

    monkeypatch.setattr(engine, "time", _StoppedClock())

    monkeypatch.setattr(distro, "node_major", lambda: 20)
    monkeypatch.setattr(distro, "node_packages", lambda: [])
    from jeg_wizard import layout

    monkeypatch.setattr(layout, "_reachable_name", lambda: "jupyter.example.org")
    monkeypatch.setattr(distro, "detect", lambda *a: DEBIAN12)
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")
    defaults = Answers()
    monkeypatch.setattr(users, "pwd", _NoDemoUsers(pwd, {defaults.users.admin, defaults.gateway.user}))


def fake_clock() -> Callable[[], float]:
    """Step durations that look like a real run (seconds), the same every time."""
    durations = itertools.cycle([3.2, 41.7, 12.4, 0.1, 14.9, 9.8, 23.5, 6.1, 48.3, 0.2, 0.4, 1.6, 7.3, 11.0])
    t = [0.0]
    starting = [True]

    def clock() -> float:
        if not starting[0]:
            t[0] += next(durations)
        starting[0] = not starting[0]
        return t[0]

    return clock


def fixed_probes(ctx) -> list[Probe]:
    from jeg_wizard.tui.probes import default_probes

    return [Probe(p.name, p.title, p.url, lambda r=READINGS[p.name]: list(r)) for p in default_probes(ctx)]


def fake_e2e(hub_url, user, password, kernel, *, timeout=0, say=lambda s: None, **kw) -> Smoke:
    smoke = Smoke({"login": 0.8, "spawn": 3.4, "kernelspecs": 0.1, "kernel start": 6.2, "job": 2.9}, "1000")
    for k, v in smoke.phases.items():
        say(f"{k}: {v:.1f}s")
    return smoke


def passing_gate(answers, steps) -> list[str]:
    """The gate as on a machine where everything holds (the real one depends on this box)."""
    return []


def demo_app(fail: Callable[[list[str]], bool] | None = None, answers=None, **wiring) -> WizardApp:
    def engine(a):
        from jeg_wizard.steps import STEPS

        engine = Engine(make_context(a, DryRunRunner(probe_results={}, fail=fail), dry_run=True), STEPS)
        engine.workers = 1  # one step at a time, in the README's order: the same render every time
        return engine

    opts = dict(
        make_engine=engine,
        facts=FACTS,
        dist=DEBIAN12,
        admin_exists=False,
        clock=fake_clock(),
        probes=fixed_probes,
        e2e=fake_e2e,
        health_interval=0,
        gate=passing_gate,
        answers_out=Path("/tmp/jeg-wizard-demo/answers.toml"),
    )
    opts.update(wiring)
    return build_app(answers or demo_answers(), **opts)


# ---------------------------------------------------------------- driving the app to each screen


def text_of(widget) -> str:
    """A Static's content as plain text (tables and styled text included), unwrapped."""
    import io

    from rich.console import Console

    console = Console(width=500, file=io.StringIO(), record=True, color_system=None)
    content = widget.content
    console.print(content, markup=False)
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


async def settle(pilot, until: Callable[[], bool], timeout: float = 30.0) -> None:
    waited = 0.0
    while not until():
        await pilot.pause(0.05)
        waited += 0.05
        if waited > timeout:
            raise TimeoutError(f"the app did not get there in {timeout}s (screen {pilot.app.screen})")
    await pilot.pause()


async def to_questions(pilot) -> None:
    await pilot.press("enter")
    await settle(pilot, lambda: type(pilot.app.screen).__name__ == "QuestionsScreen")


async def fill_password(pilot, password: str = PASSWORD, confirm: str | None = None) -> None:
    screen = pilot.app.screen
    for wid, value in (
        ("#f-users-admin_password", password),
        ("#f-users-admin_password_confirm", password if confirm is None else confirm),
    ):
        inp = screen.query_one(wid)
        inp.focus()
        inp.value = ""
        await pilot.press(*value)


async def to_plan(pilot, step: str | None = "environment") -> None:
    await to_questions(pilot)
    await fill_password(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot, lambda: bool(getattr(pilot.app.screen, "states", None)))
    if step:
        ids = [st.step.id for st in pilot.app.screen.states]
        await pilot.press(*["down"] * ids.index(step))
        await pilot.pause()


async def to_run_end(pilot) -> None:
    await to_plan(pilot, step=None)
    await pilot.press("s")
    await settle(
        pilot, lambda: getattr(pilot.app.screen, "done", False) or getattr(pilot.app.screen, "failed", None) is not None
    )
    from jeg_wizard.tui.widgets import LogStream

    log = pilot.app.screen.query_one(LogStream)
    # every line the run fed has reached the widget (a loaded machine delays the 50 ms flush timer)
    await settle(pilot, lambda: not log._queue and log.written + log.dropped >= log.received)
    await pilot.pause(0.15)


async def to_finish(pilot) -> None:
    await to_run_end(pilot)
    await pilot.press("enter")
    await settle(pilot, lambda: type(pilot.app.screen).__name__ == "FinishScreen")
    from jeg_wizard.tui.widgets import HealthPanel

    await settle(pilot, lambda: all(p.polls for p in pilot.app.screen.query(HealthPanel)))


async def to_questions_with_error(pilot) -> None:
    await to_questions(pilot)
    port = pilot.app.screen.query_one("#f-gateway-port")
    port.focus()
    port.value = ""
    await pilot.press(*"70000")
    await pilot.press("ctrl+n")
    await pilot.pause()


async def to_finish_checked(pilot) -> None:
    await to_finish(pilot)
    await pilot.press("e")
    await settle(pilot, lambda: not pilot.app.screen.e2e_running and pilot.app.screen.e2e_lines)


def steady(drive):
    """A focused Input blinks its cursor on a timer: stop it, or the picture depends on the instant."""

    async def driven(pilot) -> None:
        from textual.widgets import Input

        if drive:
            await drive(pilot)
        for inp in pilot.app.screen.query(Input):
            inp.cursor_blink = False
        await pilot.pause()

    return driven


STATES: dict[str, tuple[Callable[..., WizardApp], Callable[..., Awaitable[None]] | None]] = {
    "1-welcome": (demo_app, steady(None)),
    "2-questions": (demo_app, steady(to_questions_with_error)),
    "3-plan": (demo_app, steady(to_plan)),
    "4-run-failed": (lambda: demo_app(fail=lambda argv: argv[:2] == ["npm", "install"]), steady(to_run_end)),
    "5-run-complete": (
        lambda: demo_app(answers=demo_answers(spark={"master": "spark://127.0.0.1:7077"})),
        steady(to_run_end),
    ),
    "6-finish": (lambda: demo_app(answers=demo_answers(spark={"master": "spark://127.0.0.1:7077"})), steady(to_finish)),
    "7-finish-e2e": (demo_app, steady(to_finish_checked)),
}
