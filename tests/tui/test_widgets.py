"""The batched log and the health panel on their own, in a bare app."""

import threading
import time

import pytest
from textual.app import App

from jeg_wizard.checks import Finding
from jeg_wizard.tui.probes import Probe
from jeg_wizard.tui.widgets import HealthPanel, LogStream

from .states import settle

pytestmark = pytest.mark.anyio


class Bare(App):
    def __init__(self, widget):
        super().__init__()
        self.widget = widget

    def compose(self):
        yield self.widget


async def test_log_stream_batches_from_a_thread_and_stays_bounded():
    log = LogStream(max_lines=100)
    async with Bare(log).run_test(size=(80, 24)) as pilot:
        t = threading.Thread(target=lambda: [log.feed(f"line {i}") for i in range(50)])
        t.start()
        t.join()
        await settle(pilot, lambda: log.written == 50)
        assert list(log.lines) == [f"line {i}" for i in range(50)] and log.dropped == 0

        # the UI falls behind by more than the bound: the oldest queued lines go, and the log says so
        for i in range(50, 1050):
            log.feed(f"line {i}")
        log.flush()
        assert len(log.lines) == 100
        assert log.lines[0].startswith("… ") and "lines not shown here" in log.lines[0]
        assert log.lines[-1] == "line 1049"
        assert log.written + log.dropped == log.received == 1050


async def test_health_panel_never_overlaps_its_polls():
    calls = {"now": 0, "max": 0, "n": 0}
    lock = threading.Lock()

    def slow() -> list[Finding]:
        with lock:
            calls["now"] += 1
            calls["max"] = max(calls["max"], calls["now"])
            calls["n"] += 1
        time.sleep(0.3)  # slower than the interval
        with lock:
            calls["now"] -= 1
        return [Finding("demo", "version", "ok", "Demo 1.0")]

    panel = HealthPanel(Probe("demo", "Demo", "http://127.0.0.1:1", slow), interval=0.05)
    async with Bare(panel).run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.1)
        for _ in range(5):
            panel.poll()  # "refresh" pressed while a poll runs: ignored
        await settle(pilot, lambda: panel.polls >= 3, timeout=10)
        assert calls["max"] == 1 and panel.max_in_flight == 1
        assert panel.has_class("ok") and panel.border_subtitle == "● ok"


async def test_no_color_is_honoured(monkeypatch):
    from .states import demo_app

    monkeypatch.setenv("NO_COLOR", "1")
    app = demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.no_color
        assert any(type(f).__name__ in ("Monochrome", "NoColor") for f in app._filters)


async def test_log_stream_measures_wide_lines_for_horizontal_scrolling():
    log = LogStream(max_lines=100)
    async with Bare(log).run_test(size=(80, 24)) as pilot:
        log.feed("x" * 300)
        log.feed("short")
        await settle(pilot, lambda: log.written == 2)
        assert log.virtual_size.width >= 300


async def test_a_panel_that_needs_the_operator_shows_its_finding_and_fix_whole():
    """At 80 columns a problem's detail and fix wrap inside the panel (the operator must read them); a healthy
    panel keeps one line per finding."""
    from pathlib import Path

    class Styled(Bare):
        CSS_PATH = Path(__import__("jeg_wizard.tui", fromlist=["x"]).__file__).with_name("wizard.tcss")

    long = "the master at spark://127.0.0.1:7077 does not answer on its web UI either, " * 2
    bad = [Finding("spark", "master", "problem", long + "DETAILEND", fix="jeg-wizard services restart " * 3 + "FIXEND")]
    good = [Finding("hub", "version", "ok", long + "OKEND")]
    for findings, whole in ((bad, True), (good, False)):
        panel = HealthPanel(Probe("x", "X", "http://127.0.0.1:1", lambda f=findings: list(f)), interval=0)
        app = Styled(panel)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot, lambda p=panel: p.polls >= 1)
            await pilot.pause()
            shown = "\n".join(line.text for line in panel.render_lines(panel.region.reset_offset))
            if whole:
                assert "DETAILEND" in shown and "FIXEND" in shown and panel.outer_size.height > 5, shown
            else:
                assert "OKEND" not in shown and "…" in shown and panel.outer_size.height == 5, shown
