"""`jeg-wizard status`: a panel per component from the checks (jeg_wizard.checks), refreshed without
overlapping polls; `l` shows the end of the log a failing check names, `s` runs the Spark smoke,
`c` changes settings (screens/settings.py: `jeg-wizard set`'s questions, diff and apply)."""

from __future__ import annotations

import os
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from rich.markup import escape
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.widgets import Footer, Log, Static

from .. import checks
from ..checks import COMPONENTS, OK, Finding, overall, worst
from ..layout import Layout

COLOUR = {"✓": "green", "!": "yellow", "?": "yellow", "✗": "red"}


def marked(f: Finding) -> str:
    return f"[{COLOUR[f.mark]}]{f.mark}[/]"


class ComponentPanel(Static):
    def __init__(self, component: str, **kw):
        super().__init__(**kw)
        self.component = component
        self.border_title = component
        self.findings: list[Finding] = []

    def show(self, findings: list[Finding]) -> None:
        self.findings = findings
        state = worst(findings)
        self.set_classes(f"panel-{state}")
        self.border_subtitle = state
        lines = []
        for f in findings:
            lines.append(f"{marked(f)} [b]{escape(f.what)}[/]: {escape(f.detail)}")
            if f.status != OK and f.fix:
                lines.append(f"   [dim]fix: [/]{escape(f.fix)}")
        self.update("\n".join(lines) or "[dim]not configured[/]")


class StatusApp(App):
    CSS_PATH = Path(__file__).with_name("wizard.tcss")  # the settings screens are the wizard's
    CSS = """
    Screen { layout: vertical; }
    #summary { height: 1; padding: 0 1; }
    #site-warning { height: auto; padding: 0 1; }
    #panels { grid-size: 2; grid-gutter: 0 1; height: auto; }
    ComponentPanel { border: round $secondary; padding: 0 1; height: auto; }
    .panel-ok { border: round $success; }
    .panel-warning, .panel-unknown { border: round $warning; }
    .panel-problem { border: round $error; }
    #tail { height: 10; border: round $secondary; display: none; }
    #tail.shown { display: block; }
    """
    TITLE = "jeg-wizard status"
    BINDINGS = [
        Binding("r", "refresh", "Refresh"),
        Binding("l", "log", "Log of a failing check"),
        Binding("s", "smoke", "Spark smoke"),
        Binding("c", "change_settings", "Change settings"),
        Binding("q", "quit", "Quit"),
    ]

    class Checked(Message):
        def __init__(self, findings: list[Finding], seconds: float):
            super().__init__()
            self.findings, self.seconds = findings, seconds

    class Smoked(Message):
        def __init__(self, text: str):
            super().__init__()
            self.text = text

    def __init__(
        self,
        layout: Layout,
        check: Callable[[], list[Finding]] | None = None,
        interval: float = 5.0,
        clock: Callable[[float], str] = lambda secs: f"checked {time.strftime('%H:%M:%S')} in {secs:.1f}s",
        steps: Callable[[str], list] | None = None,
    ):
        super().__init__()
        self.layout = layout
        self.run_checks = check or (lambda: checks.run(layout))
        self.interval = interval
        self.clock = clock
        self.findings: list[Finding] = []
        self.in_flight = False
        self.polls = 0
        self.smoke_text = ""
        self.settings_steps = steps or _steps_of_role  # what Change settings plans over (`set`'s steps)

    def compose(self) -> ComposeResult:
        yield Static("checking…", id="summary")
        site = self.layout.a.site
        if site.plain_http:  # said on every screen that shows this site's health
            from ..plan import PLAIN_HTTP_WARNING

            yield Static(
                f"[b yellow]{escape(PLAIN_HTTP_WARNING.format(hub=site.hub_host, gateway=site.gateway_host))}[/]",
                id="site-warning",
            )
        here = checks.for_role(self.layout.role)  # a host of a split site: the components of its part
        with VerticalScroll():
            with Grid(id="panels"):
                for c in (c for c in COMPONENTS if c in here):
                    yield ComponentPanel(c, id=f"panel-{c.replace(' ', '-')}")
            yield Log(id="tail", max_lines=200)
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()

    # -- polling: the next poll is armed only when the previous one came back
    def action_refresh(self) -> None:
        if self.in_flight:
            return
        self.in_flight = True
        self._check()

    @work(thread=True, group="checks")
    def _check(self) -> None:
        t0 = time.monotonic()
        findings = self.run_checks()
        self.post_message(self.Checked(findings, time.monotonic() - t0))

    def on_status_app_checked(self, msg: StatusApp.Checked) -> None:
        self.in_flight = False
        if not self.query("#summary"):
            return  # the app is closing: a late answer has nowhere to go
        self.polls += 1
        self.findings = msg.findings
        groups: OrderedDict[str, list[Finding]] = OrderedDict((c, []) for c in COMPONENTS)
        for f in msg.findings:
            groups.setdefault(f.component, []).append(f)
        for c, fs in groups.items():
            panel = self.query(f"#panel-{c.replace(' ', '-')}")
            if panel:
                panel.first(ComponentPanel).show(fs)
        state, _ = overall(msg.findings)
        colour = {"healthy": "green", "degraded": "yellow", "down": "red"}[state]
        smoke = f"  ·  {self.smoke_text}" if self.smoke_text else ""
        self.query_one("#summary", Static).update(
            f"[b {colour}]{state} · [/]{checks.tally(msg.findings)}  "
            f"[dim]{self.clock(msg.seconds)} · {escape(self.layout.hub_url)}[/]{escape(smoke)}"
        )
        if self.interval:
            self.set_timer(self.interval, self.action_refresh)

    # -- the log a failing check names
    def action_log(self) -> None:
        tail = self.query_one("#tail", Log)
        bad = [f for f in self.findings if f.status != OK and f.log]
        if tail.has_class("shown") and not bad:
            tail.remove_class("shown")
            return
        from ..services import read_log

        ref = bad[0].log if bad else str(self.layout.install_log)  # a file, or `journalctl -u …` under systemd
        tail.clear()
        tail.border_title = ref
        tail.write_lines(read_log(ref, 100).splitlines() or [f"{ref}: nothing to show (missing or empty)"])
        tail.add_class("shown")

    # -- start a Spark kernel on the gateway, run a job, delete it
    def action_smoke(self) -> None:
        self.smoke_text = "smoke: starting a Spark kernel…"
        self.notify("Starting a Spark kernel on the gateway…")
        self._smoke()

    @work(thread=True, exclusive=True, group="smoke")
    def _smoke(self) -> None:
        site = checks.Install(self.layout)
        try:
            f = checks.gateway.smoke(site)
            text = site.secrets.redactor(f"smoke ok: {f.detail}" if f.status == OK else f"smoke FAILED: {f.detail}")
        except Exception as e:  # noqa: BLE001 - shown to the operator
            text = site.secrets.redactor(f"smoke FAILED: {e}")
        finally:
            site.close()
        self.post_message(self.Smoked(text))

    def on_status_app_smoked(self, msg: StatusApp.Smoked) -> None:
        self.smoke_text = msg.text
        self.notify(msg.text, severity="information" if msg.text.startswith("smoke ok") else "error", timeout=15)

    def check_action(self, action: str, parameters) -> bool | None:
        # the panels' keys act on the panels: not while a settings screen is over them
        if action in ("refresh", "log", "smoke", "change_settings") and len(self.screen_stack) > 1:
            return False
        return True

    # -- change settings: `jeg-wizard set` with the questions pre-filled (the status keeps polling after)
    def action_change_settings(self) -> None:
        from ..answers import AnswersError, load, load_data
        from .screens.settings import SettingsScreen

        if os.geteuid() != 0:
            self.notify(
                "Run as root (sudo) to change settings: it rewrites config files and restarts services",
                severity="error",
                timeout=10,
            )
            return
        saved = self.layout.saved_answers
        try:
            old = load(saved)  # the same reading as `set`: a problem in it is named, not changed
            data, _ = load_data(saved)
        except AnswersError as e:
            self.notify(f"{saved}: " + "; ".join(e.problems), severity="error", timeout=15)
            return
        self.push_screen(SettingsScreen(old, data))

    def settings_done(self, note: str | None = None) -> None:
        """Back to the status panels from any settings screen; polling again (it pauses while they are up)."""
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if note:
            self.notify(note)
        self.action_refresh()


def _steps_of_role(role: str) -> list:
    from jeg_wizard.steps import for_role

    return for_role(role)


def run_status(layout: Layout, timeout: float = 3.0) -> int:
    app = StatusApp(layout, check=lambda: checks.run(layout, timeout))
    app.run()
    return overall(app.findings)[1] if app.findings else 2
