"""One service's health: URL, what answered, latency. It polls in a thread worker and re-arms its
timer only after the previous poll came back, so slow answers never pile polls up."""
from __future__ import annotations

from rich.text import Text
from textual.message import Message
from textual.widgets import Static

from ..probes import Probe, Reading


class HealthPanel(Static):
    class Read(Message):
        def __init__(self, panel: "HealthPanel", reading: Reading):
            super().__init__()
            self.panel, self.reading = panel, reading

    def __init__(self, probe: Probe, interval: float = 5.0, **kw):
        super().__init__(**kw)
        self.probe, self.interval = probe, interval
        self.reading: Reading | None = None
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
        try:
            reading = self.probe.read()
        except Exception as e:  # noqa: BLE001 - a probe must not kill the panel
            reading = Reading(False, detail=f"probe error: {e}")
        self.post_message(self.Read(self, reading))

    def on_health_panel_read(self, msg: "HealthPanel.Read") -> None:
        if msg.panel is not self:
            return
        msg.stop()
        self.in_flight -= 1
        self.polls += 1
        self.reading = msg.reading
        self._show()
        if self.interval:
            self.set_timer(self.interval, self.poll)

    def _show(self) -> None:
        r = self.reading
        if r is None:
            state, cls = "… checking", "checking"
        elif r.up:
            state, cls = "● up", "up"
        else:
            state, cls = "✗ down", "down"
        self.set_class(cls == "up", "up")
        self.set_class(cls == "down", "down")
        self.border_subtitle = state
        lines = [Text(self.probe.url, style="underline")]
        if r is not None and r.up:
            lines.append(Text.assemble((r.version or "answering", "bold"),
                                       f" · {r.latency_ms:.0f} ms" if r.latency_ms is not None else ""))
            lines.append(Text(r.detail or ""))
        elif r is not None:
            lines.append(Text(r.detail or "not answering", style="red"))
            lines.append(Text(f"polled {self.polls}×, next in {self.interval:g}s" if self.interval else "",
                              style="dim"))
        body = Text("\n").join(lines)
        body.no_wrap, body.overflow = True, "ellipsis"
        self.update(body)
