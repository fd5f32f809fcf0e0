"""The install log on disk: every command and every line of its output, timestamped, root only."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path


class InstallLog:
    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._fh = None

    def write(self, line: str) -> None:
        with self._lock:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                self._fh = os.fdopen(fd, "a", buffering=1, encoding="utf-8")
            self._fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")

    def close(self) -> None:
        with self._lock:
            if self._fh:
                self._fh.close()
                self._fh = None
