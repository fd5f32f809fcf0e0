"""What `--unattended` shows: a rich live display on a terminal, timestamped plain lines otherwise."""

from __future__ import annotations

import sys
import time
from collections import deque

from .engine import StepState


class PlainReporter:
    def __init__(self, stream=sys.stdout):
        self.stream = stream

    def line(self, text: str) -> None:
        self.stream.write(f"{time.strftime('%H:%M:%S')} {text}\n")
        self.stream.flush()

    def event(self, event: str, st: StepState) -> None:
        pass  # the runner already emits "== step" lines

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class RichReporter:
    """Steps with marks and durations, an overall bar, the steps running (side by side) and the last lines."""

    MARKS = {"ok": "[green]✔[/]", "done": "[green]✔[/]", "failed": "[red]✘[/]", "running": "[yellow]…[/]"}

    def __init__(self, total: int):
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.total = total
        self.finished = 0
        self.rows: list[str] = []
        self.tail: deque[str] = deque(maxlen=6)
        self.running: dict[str, float] = {}  # "id: title" -> its start
        self.live = Live(self._render(), console=self.console, refresh_per_second=8, transient=False)

    def _render(self):
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.text import Text

        parts = [Text.from_markup(r) for r in self.rows]
        now = time.monotonic()
        parts += [
            Text.from_markup(f"[yellow]…[/] {name}  ({now - t0:.0f}s)") for name, t0 in list(self.running.items())
        ]
        if self.running:
            parts += [Text(f"    {t[:150]}", style="dim") for t in self.tail]
        parts.append(ProgressBar(total=self.total, completed=self.finished, width=60))
        return Group(*parts)

    def line(self, text: str) -> None:
        if not text.startswith("=="):
            self.tail.append(text)
        self.live.update(self._render())

    def event(self, event: str, st: StepState) -> None:
        name = f"{st.step.id}: {st.step.title}"
        if event == "start":
            self.running[name] = time.monotonic()
        elif event == "finish":
            self.finished += 1
            mark = self.MARKS.get(st.status, st.status)
            note = "already done" if st.status == "done" else st.status
            self.rows.append(f"{mark} {st.step.id:<15} {st.step.title}  [dim]{note}, {st.seconds:.1f}s[/]")
            self.running.pop(name, None)
            if st.status == "failed":  # its own lines, not the ones of the steps beside it
                from rich.markup import escape

                self.rows += [f"    [red]{escape(t)}[/]" for t in list(st.tail)[-10:]]
        self.live.update(self._render())

    def __enter__(self):
        self.live.__enter__()
        return self

    def __exit__(self, *exc):
        self.live.__exit__(*exc)
        return False
