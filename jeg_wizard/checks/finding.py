"""One finding of one check, in one vocabulary for every front end: ok, problem or unknown.

Unknown is never green: it says what could not be read. A problem may be a warning (a risk to know
about, not a breakage): it marks `[!]`, never makes the install "down"."""

from __future__ import annotations

import json
from dataclasses import dataclass

OK, PROBLEM, UNKNOWN = "ok", "problem", "unknown"

# the order the doctor prints and the status screen lays out its panels
COMPONENTS = ["services", "gateway", "hub", "proxy", "user servers", "kernels", "spark", "network"]


@dataclass(frozen=True)
class Finding:
    component: str  # one of COMPONENTS
    what: str
    status: str  # OK | PROBLEM | UNKNOWN
    detail: str
    fix: str = ""
    log: str = ""  # where to read more: a file, or `journalctl -u …`
    warning: bool = False  # not OK, but users can work: a risk or a note

    @property
    def level(self) -> str:
        """The first vocabulary (ok / warn / fail), kept as the JSON's "status" for monitors."""
        if self.status == OK:
            return "ok"
        return "warn" if self.warning else "fail"

    @property
    def mark(self) -> str:
        if self.status == UNKNOWN:
            return "?"
        return {"ok": "✓", "warn": "!", "fail": "✗"}[self.level]

    def line(self) -> str:
        text = f"[{self.mark}] {self.component}: {self.what}: {self.detail}"
        if self.status != OK and self.fix:
            text += f"\n      fix: {self.fix}"
        if self.status != OK and self.log:
            text += f"\n      log: {self.log}"
        return text

    def as_dict(self) -> dict:
        return {
            "component": self.component,
            "check": self.what,
            "status": self.level,
            "detail": self.detail,
            "fix": self.fix,
            "log": self.log,
            "result": self.status,
        }


def ok(component: str, what: str, detail: str) -> Finding:
    return Finding(component, what, OK, detail)


def problem(component: str, what: str, detail: str, fix: str = "", log: str = "", warning: bool = False) -> Finding:
    return Finding(component, what, PROBLEM, detail, fix, log, warning)


def unknown(component: str, what: str, detail: str, fix: str = "", log: str = "", warning: bool = False) -> Finding:
    return Finding(component, what, UNKNOWN, detail, fix, log, warning)


def worst(findings: list[Finding]) -> str:
    """A panel's one word: problem, unknown, warning or ok (unknown outranks a warning: never green)."""
    if any(f.status == PROBLEM and not f.warning for f in findings):
        return "problem"
    if any(f.status == UNKNOWN for f in findings):
        return "unknown"
    return "warning" if any(f.status != OK for f in findings) else "ok"


def overall(findings: list[Finding]) -> tuple[str, int]:
    """healthy 0, degraded 1, down 2 (gateway or hub not running or not answering)."""
    if any(f.level == "fail" and (f.component == "services" or f.what in ("answers", "public URL")) for f in findings):
        return "down", 2
    if any(f.status != OK for f in findings):
        return "degraded", 1
    return "healthy", 0


def counts(findings: list[Finding]) -> dict[str, int]:
    """ok / warnings / problems / unknown, as the summary lines say them."""
    return {
        "ok": sum(f.status == OK for f in findings),
        "warning": sum(f.status == PROBLEM and f.warning for f in findings),
        "problem": sum(f.status == PROBLEM and not f.warning for f in findings),
        "unknown": sum(f.status == UNKNOWN for f in findings),
    }


def tally(findings: list[Finding]) -> str:
    """'16 ok, 0 warnings, 1 problem' (and 'N unknown' when any): the doctor's and the status screen's words."""
    c = counts(findings)
    words = [f"{c['ok']} ok"] + [f"{c[k]} {k}{'' if c[k] == 1 else 's'}" for k in ("warning", "problem")]
    return ", ".join(words + ([f"{c['unknown']} unknown"] if c["unknown"] else []))


def summary(findings: list[Finding]) -> str:
    state, _ = overall(findings)
    return f"{state}: {tally(findings)}"


def as_json(findings: list[Finding]) -> str:
    state, _ = overall(findings)
    return json.dumps({"state": state, "checks": [f.as_dict() for f in findings]}, indent=1)
