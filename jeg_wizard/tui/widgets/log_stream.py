"""The Run screen's live log: lines arrive from the runner's worker thread one by one; a 50 ms
timer writes whatever queued up in one `write_lines` call (one render per batch, not per line).
Both the queue and the widget are bounded, so memory stays flat however long a command talks;
the full output is in the install log on disk."""
from __future__ import annotations

from collections import deque

from rich.cells import cell_len
from textual.widgets import Log

FLUSH_SECONDS = 0.05


class LogStream(Log):
    def __init__(self, max_lines: int = 5000, **kw):
        super().__init__(max_lines=max_lines, auto_scroll=True, **kw)
        # deque.append/popleft are atomic: the producer thread needs no lock; maxlen drops the
        # oldest lines when the UI falls behind (they would be pruned from the widget anyway)
        self._queue: deque[str] = deque(maxlen=max_lines)
        self.received = 0  # lines fed (one producer: the step worker)
        self.written = 0  # lines handed to the widget
        self.dropped = 0  # lines that fell out of the queue before a flush (still in the log file)

    def _update_size(self, updates: int, lines: list[str]) -> None:
        # Log measures each batch's width in a new thread worker; at 20 batches a second those
        # threads pile up behind the GIL holding their batches (peak RSS +30 MB over 1M lines).
        # Measuring here costs ~1 ms per thousand lines, once per batch.
        if lines:
            self._update_maximum_width(updates, max(cell_len(self._process_line(line)) for line in lines))

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
            if len(batch) >= (self.max_lines or 0):
                batch.pop(0)  # room for the note within max_lines
                lost += 1
            self.dropped += lost
            batch.insert(0, f"… {lost} lines not shown here (the install log has them all)")
            self.written -= 1  # the note is not a fed line
        self.write_lines(batch)
        self.written += len(batch)
