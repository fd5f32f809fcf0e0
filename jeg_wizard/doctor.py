"""`jeg-wizard doctor` and `status --json`: the checks (jeg_wizard.checks) printed one line each with
the cause, the fix and the log to read, or as JSON for monitoring."""

from __future__ import annotations

from . import checks
from .layout import Layout


def main(layout: Layout, timeout: float = 3.0, as_json: bool = False, smoke: bool = False) -> int:
    """Exit 0 healthy, 1 degraded, 2 down. With smoke, the Spark job on the gateway is one more
    finding: printed, counted in the summary and in the exit code."""
    findings = checks.run(layout, timeout)
    if smoke:
        site = checks.Install(layout, timeout)
        try:
            f = checks.gateway.smoke(site)
        finally:
            site.close()
        findings.append(checks.masked(site, [f])[0])
    state, code = checks.overall(findings)
    if as_json:
        print(checks.as_json(findings))
        return code
    for f in findings:
        print(f.line())
    print(f"\n{checks.summary(findings)}")
    return code
