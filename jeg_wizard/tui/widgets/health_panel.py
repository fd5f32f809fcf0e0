"""One component's quick checks: URL and its findings (ok / problem / unknown), worst first. It polls in a
thread worker and re-arms its timer only after the previous poll came back, so slow answers never
pile polls up."""

from __future__ import annotations

import time

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from ...checks import OK, Finding, unknown, worst
from ..probes import Probe

STATE = {"ok": "● ok", "warning": "! warning", "unknown": "? unknown", "problem": "✗ problem"}
STYLE = {"✓": "green", "!": "yellow", "?": "yellow", "✗": "red"}
RANK = {"✗": 0, "?": 1, "!": 2, "✓": 3}  # what needs the operator first


class HealthPanel(Static):
    class Read(Message):
        def __init__(self, panel: HealthPanel, findings: list[Finding], latency_ms: float):
            super().__init__()
            self.panel, self.findings, self.latency_ms = panel, findings, latency_ms

    def __init__(self, probe: Probe, interval: float = 5.0, **kw):
        super().__init__(**kw)
        self.probe, self.interval = probe, interval
        self.findings: list[Finding] | None = None
        self.latency_ms: float | None = None
        self.polls = 0  # finished polls
        self.in_flight = 0  # polls running now: never more than one
        self.max_in_flight = 0
        self.border_title = probe.title

    def on_mount(self) -> None:
        self._show()
        self.poll()

    def poll(self) -> None:
        if self.in_flight:
            return  # one at a time; the running poll re-arms the timer
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.run_worker(self._read, thread=True, group=f"health-{self.probe.name}")

    def _read(self) -> None:
        t0 = time.monotonic()
        try:
            findings = self.probe.read()
        except Exception as e:  # noqa: BLE001 - a probe must not kill the panel
            findings = [unknown(self.probe.name, "probe", f"the check itself failed: {e}")]
        self.post_message(self.Read(self, findings, (time.monotonic() - t0) * 1000))

    def on_health_panel_read(self, msg: HealthPanel.Read) -> None:
        if msg.panel is not self:
            return
        msg.stop()
        self.in_flight -= 1
        self.polls += 1
        self.findings, self.latency_ms = msg.findings, msg.latency_ms
        self._show()
        if self.interval:
            self.set_timer(self.interval, self.poll)

    @property
    def state(self) -> str:
        return "checking" if self.findings is None else worst(self.findings)

    def _show(self) -> None:
        state = self.state
        for cls in STATE:
            self.set_class(cls == state, cls)
        self.border_subtitle = STATE.get(state, "… checking")
        lines = [Text(self.probe.url, style="underline")]
        shown = sorted(self.findings or [], key=lambda f: RANK[f.mark])
        for f in shown[:2]:
            lines.append(Text.assemble((f"{f.mark} ", STYLE[f.mark]), (f"{f.what}: ", "bold"), f.detail))
        if shown and shown[0].status != OK and shown[0].fix and len(shown) < 2:
            lines.append(Text(f"fix: {shown[0].fix}", style="dim"))
        elif self.findings is not None and not shown:
            lines.append(Text("nothing to check here", style="dim"))
        # ok: a summary line each (status has it whole); what needs the operator wraps, to be read whole
        self.update(Text("\n").join(lines))
