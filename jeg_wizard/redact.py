"""Masks every known secret in text bound for a log, a screen or a plan."""

from __future__ import annotations

import threading

MASK = "********"


class Redactor:
    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secret: str | None) -> None:
        # very short strings would mask ordinary words; our secrets are long or user passwords
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def contains_secret(self, text: str) -> bool:
        return any(s in text for s in self._secrets)

    def __call__(self, text: str) -> str:
        if not self._secrets:
            return text
        # longest first so a secret containing another is masked whole
        for s in sorted(self._secrets, key=len, reverse=True):
            if s in text:
                text = text.replace(s, MASK)
        return text
