"""Finish: health panels that keep polling (never overlapping), where to log in, where the answers
were saved, and the end-to-end check (PAM login -> the user's server -> a Spark job) on a key."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from ..widgets import HealthPanel, StageBar


class CheckLine(Message):
    def __init__(self, text: str, final: bool = False, ok: bool = False):
        super().__init__()
        self.text, self.final, self.ok = text, final, ok


class FinishScreen(Screen):
    BINDINGS = [
        Binding("e", "e2e", "End-to-end check"),
        Binding("r", "refresh", "Refresh"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, **kw):
        super().__init__(**kw)
        self.e2e_running = False
        self.e2e_lines: list[Text] = []

    def compose(self) -> ComposeResult:
        app = self.app
        ctx = app.engine.ctx
        L, a = ctx.layout, ctx.answers
        yield StageBar("Finish")
        with VerticalScroll(id="finish"):
            yield Static(self._summary(), id="finish-summary")
            with Grid(id="health"):
                for probe in app.wiring.probes(ctx):
                    yield HealthPanel(probe, interval=app.wiring.health_interval, id=f"h-{probe.name}")
            login = Text()
            login.append(f"Log in as {a.users.admin}: ", style="bold")
            login.append(f"{L.public_hub_url}/user/{a.users.admin}/lab\n")
            login.append(" " * len(f"Log in as {a.users.admin}: "))
            login.append(f"{L.public_hub_url}/user/{a.users.admin}/tree")
            yield Static(login, id="login")
            saved = app.answers_saved
            where = Text()
            where.append("Answers saved: ", style="bold")
            where.append(str(saved) if saved else "(not saved)")
            if saved:
                where.append(f"\n  replay: jeg-wizard install --unattended {saved}", style="dim")
            where.append("\nInstall log: ", style="bold")
            where.append(str(L.install_log) if not ctx.dry_run else "(dry run: no log file)")
            yield Static(where, id="saved")
            yield Static(
                Text(
                    "Press e for the end-to-end check: log in, start a Spark kernel through the "
                    "gateway, run spark.range(1000).count().",
                    style="dim",
                ),
                id="e2e",
            )
        yield Footer()

    def _summary(self) -> Text:
        status = self.app.run_status or {}
        worked = sum(1 for s in status.values() if s == "ok")
        skipped = [k for k, s in status.items() if s == "skipped"]
        t = Text("✓ Installed. ", style="bold green")
        t.append(f"{worked} steps did work, {len(status) - worked - len(skipped)} already done")
        if skipped:
            t.append(f"; skipped: {', '.join(skipped)} (run jeg-wizard again to do them)", style="yellow")
        if self.app.engine.ctx.dry_run:
            t.append(" (dry run)", style="bold yellow")
        return t

    def action_refresh(self) -> None:
        for panel in self.query(HealthPanel):
            panel.poll()

    # ---------------------------------------------------------------- end-to-end check
    def action_e2e(self) -> None:
        if self.e2e_running:
            return
        password = self.app.password
        if password is None:
            try:
                password = self.app.engine.ctx.secrets.admin_password()
            except Exception:  # noqa: BLE001 - e.g. the env var is not set here: ask instead
                password = None
        if password is None:
            from .confirm import AskPassword

            def got(pw: str | None) -> None:
                if pw:
                    self._start_e2e(pw)

            self.app.push_screen(AskPassword(self.app.engine.ctx.answers.users.admin), got)
            return
        self._start_e2e(password)

    def _start_e2e(self, password: str) -> None:
        self.e2e_running = True
        self.e2e_lines = [Text("end-to-end check running…", style="bold")]
        self._show_e2e()
        self.e2e(password)

    @work(thread=True, exclusive=True, group="e2e")
    def e2e(self, password: str) -> None:
        ctx = self.app.engine.ctx
        a, L = ctx.answers, ctx.layout
        ctx.secrets.set_admin_password(password)  # masked in anything the check prints
        try:
            smoke = self.app.wiring.e2e(
                L.hub_url,
                a.users.admin,
                password,
                a.kernels.name,
                timeout=a.gateway.kernel_launch_timeout + 120,
                verify=L.hub_verify,
                say=lambda s: self.post_message(CheckLine(ctx.runner.redactor(s))),
            )
        except Exception as e:  # noqa: BLE001 - the answer of the check
            self.post_message(CheckLine(ctx.runner.redactor(f"{type(e).__name__}: {e}"), final=True, ok=False))
            return
        phases = ", ".join(f"{k} {v:.1f}s" for k, v in smoke.phases.items())
        self.post_message(
            CheckLine(
                f"{a.users.admin} logged in and ran spark.range(1000).count() = "
                f"{smoke.result} through the gateway ({phases})",
                final=True,
                ok=True,
            )
        )

    def on_check_line(self, msg: CheckLine) -> None:
        if msg.final:
            self.e2e_running = False
            mark, style = ("✓ ", "bold green") if msg.ok else ("✗ end-to-end check failed: ", "bold red")
            # the final line carries the phases: it replaces the progress lines
            self.e2e_lines = [Text(mark + msg.text, style=style)]
        else:  # progress: one line that grows ("login: 0.8s, spawn: 3.4s, ...")
            if len(self.e2e_lines) < 2:
                self.e2e_lines.append(Text("  " + msg.text))
            else:
                self.e2e_lines[-1].append(", " + msg.text)
        self._show_e2e()

    def _show_e2e(self) -> None:
        self.query_one("#e2e", Static).update(Text("\n").join(self.e2e_lines[-3:]))
        self.call_after_refresh(self.query_one("#finish").scroll_end, animate=False)
