"""The Run screen's live log: lines arrive from the runner's worker thread one by one; a 50 ms
timer writes whatever queued up in one batch (one render per batch, not per line). Both the queue
and the widget are bounded, so memory stays flat however long a command talks; the full output is
in the install log on disk.

A ScrollView of its own (public API only) rather than textual's Log: Log measures each batch's width
in a new thread worker, and at 20 batches a second those threads pile up behind the GIL holding
their batches (peak RSS +30 MB over 1M lines); its per-line `write` is 5x slower. Here a batch is
measured inline, ~1 ms per thousand lines."""

from __future__ import annotations

import re
from collections import deque

from rich.cells import cell_len
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

FLUSH_SECONDS = 0.05
_CONTROL = re.compile("[\u0000-\u0014]")  # as Log shows them: one replacement mark each


class LogStream(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    LogStream {
        background: $surface;
        color: $text;
        overflow: scroll;
        &:focus { background-tint: $foreground 5%; }
    }
    """

    def __init__(self, max_lines: int = 5000, **kw):
        super().__init__(**kw)
        self.max_lines = max_lines
        self.lines: deque[str] = deque(maxlen=max_lines)  # what the widget shows, oldest first
        self._width = 0
        # deque.append/popleft are atomic: the producer thread needs no lock; maxlen drops the
        # oldest lines when the UI falls behind (they would be pruned from the widget anyway)
        self._queue: deque[str] = deque(maxlen=max_lines)
        self.received = 0  # lines fed (one producer: the step worker)
        self.written = 0  # lines handed to the widget
        self.dropped = 0  # lines that fell out of the queue before a flush (still in the log file)

    def feed(self, line: str) -> None:
        """The runner sink: safe to call from any thread."""
        self._queue.append(line)
        self.received += 1

    def on_mount(self) -> None:
        self.set_interval(FLUSH_SECONDS, self.flush)

    def flush(self) -> None:
        n = len(self._queue)
        if not n:
            return
        batch = [self._queue.popleft() for _ in range(n)]
        lost = self.received - self.written - self.dropped - n - len(self._queue)
        if lost > 0:  # the gap is said where it is, not hidden
            if len(batch) >= self.max_lines:
                batch.pop(0)  # room for the note within max_lines
                lost += 1
            self.dropped += lost
            batch.insert(0, f"… {lost} lines not shown here (the install log has them all)")
            self.written -= 1  # the note is not a fed line
        self.write_lines(batch)
        self.written += len(batch)

    def write_lines(self, batch: list[str]) -> None:
        at_end = self.is_vertical_scroll_end  # follow the end only when the reader is there
        for raw in batch:
            for line in raw.splitlines() or [""]:
                line = _CONTROL.sub("\ufffd", line.expandtabs())
                self._width = max(self._width, cell_len(line))
                self.lines.append(line)
        self.virtual_size = Size(self._width, len(self.lines))
        if at_end and not self.is_vertical_scrollbar_grabbed:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width, style = self.size.width, self.rich_style
        index = scroll_y + y
        if index >= len(self.lines):
            return Strip.blank(width, style)
        line = self.lines[index]
        text = Text(line, no_wrap=True)
        text.stylize(style)
        strip = Strip(text.render(self.app.console), cell_len(line))
        # offsets: the screen maps a mouse position to (column, line) of the log, as Log does
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)
