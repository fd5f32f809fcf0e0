"""`jeg-wizard doctor` and `status --json`: the checks (jeg_wizard.checks) printed one line each with
the cause, the fix and the log to read, or as JSON for monitoring."""

from __future__ import annotations

from . import checks
from .layout import Layout


def main(layout: Layout, timeout: float = 3.0, as_json: bool = False, smoke: bool = False) -> int:
    """Exit 0 healthy, 1 degraded, 2 down."""
    findings = checks.run(layout, timeout)
    state, code = checks.overall(findings)
    if as_json:
        print(checks.as_json(findings))
        return code
    for f in findings:
        print(f.line())
    if smoke:
        site = checks.Install(layout, timeout)
        f = checks.gateway.smoke(site)
        site.close()
        print(f"[{f.mark}] smoke: {site.secrets.redactor(f.detail)}")
        code = max(code, 0 if f.status == checks.OK else 1)
    print(f"\n{checks.summary(findings)}")
    return code
