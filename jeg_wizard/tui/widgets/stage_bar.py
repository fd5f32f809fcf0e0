"""The top line: where the operator is in Welcome > Questions > Plan > Run > Finish (or in the
status screen's Change settings: Settings > Diff > Apply)."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

STAGES = ("Welcome", "Questions", "Plan", "Run", "Finish")


class StageBar(Static):
    def __init__(self, current: str, stages: tuple[str, ...] | None = None, **kw):
        super().__init__(**kw)
        self.current = current
        self.stages = stages or STAGES

    def on_mount(self) -> None:
        self.update(self._text(self.current, getattr(self.app, "rehearsal", False), self.stages))

    @staticmethod
    def _text(current: str, rehearsal: bool = False, stages: tuple[str, ...] = STAGES) -> Text:
        t = Text(" jeg-wizard ", style="bold")
        if rehearsal:
            t.append("DRY RUN", style="bold reverse yellow")
        t.append(" ")
        for i, name in enumerate(stages):
            if i:
                t.append(" › ", style="dim")
            if name == current:
                t.append(f"[{i + 1} {name}]", style="bold reverse")
            else:
                t.append(f"{i + 1} {name}", style="dim" if stages.index(current) < i else "")
        return t
