"""The steps with a status mark (readable without colour), a state word and the duration."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

MARKS = {
    "todo": ("·", "to do", ""),
    "check": ("?", "check", "cyan"),
    "done": ("✓", "done", "green"),
    "waiting": ("·", "", "dim"),
    "running": ("▶", "running", "bold yellow"),
    "ok": ("✓", "ok", "bold green"),
    "failed": ("✗", "FAILED", "bold red"),
    "skipped": ("↷", "skipped", "dim"),
    "unknown": ("…", "", "dim"),
}


def _cells(status: str, seconds: float | None) -> tuple[Text, Text]:
    mark, word, style = MARKS.get(status, ("?", status, ""))
    if seconds is not None and status in ("ok", "done", "failed", "running"):
        word = f"{word} {seconds:.1f}s" if word else f"{seconds:.1f}s"
    return Text(mark, style=style), Text(word, style=style)


class StepList(DataTable):
    """Rows keyed by step id; `set_status` updates one row in place."""

    def __init__(self, **kw):
        super().__init__(cursor_type="row", zebra_stripes=False, show_header=False, **kw)

    def set_steps(self, rows: list[tuple[str, str]]) -> None:
        """rows: (step id, status). Fixed column widths: a status change never re-measures the table."""
        self.clear(columns=True)
        self.add_column(" ", key="mark", width=1)
        self.add_column("step", key="step", width=max([len(sid) for sid, _ in rows] + [4]))
        self.add_column("state", key="state", width=11)
        for sid, status in rows:
            mark, word = _cells(status, None)
            self.add_row(mark, sid, word, key=sid)

    def set_status(self, sid: str, status: str, seconds: float | None = None) -> None:
        mark, word = _cells(status, seconds)
        self.update_cell(sid, "mark", mark)
        self.update_cell(sid, "state", word)
