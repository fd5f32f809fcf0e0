"""What the answers model (answers.py, values.py: pydantic) shares with the paths that never import it
(`status --json` and `doctor` read the validated answers from answers_cache): the error every refusal
raises, and the few value helpers those paths use. Stdlib only."""

from __future__ import annotations

import unicodedata


class AnswersError(Exception):
    """Raised with every problem found; str() is the message for the operator."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


CONTROL_CATEGORIES = ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")  # controls, format, line/paragraph separators...


def control_char(v: str) -> tuple[int, str] | None:
    """(position, character) of the first control-like character in v, or None."""
    return next(((i, ch) for i, ch in enumerate(v) if unicodedata.category(ch) in CONTROL_CATEGORIES), None)


def standalone_master(v: str) -> tuple[str, int] | None:
    """(host, port) of a validated spark://HOST:PORT master; None for local[*], local[N] and yarn."""
    if not v.startswith("spark://"):
        return None
    host, port = v[len("spark://") :].rsplit(":", 1)
    return host, int(port)
