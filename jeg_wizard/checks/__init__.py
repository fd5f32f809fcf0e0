"""One set of checks, one module per component, each returning `Finding`s (ok / problem / unknown).
`jeg-wizard doctor`, `status --json`, the status screen, the Finish panels and the health step all
use them. Checks run concurrently with a deadline, so a hung endpoint never hangs the caller.
No textual here."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from ..layout import Layout
from . import gateway, hub, kernels, network, proxy, services, spark, user_servers
from .finding import COMPONENTS, OK, PROBLEM, UNKNOWN, Finding, as_json, overall, summary, tally, unknown, worst
from .install import Install

__all__ = [
    "COMPONENTS",
    "OK",
    "PROBLEM",
    "UNKNOWN",
    "Finding",
    "Install",
    "as_json",
    "tally",
    "overall",
    "run",
    "summary",
    "quick",
    "masked",
    "QUICK",
    "worst",
]

Check = Callable[[Install], list[Finding]]

# component -> its whole check, in the order the doctor prints them
CHECKS: dict[str, Check] = {
    "services": services.check,
    "gateway": gateway.check,
    "hub": hub.check,
    "proxy": proxy.check,
    "user servers": user_servers.check,
    "kernels": kernels.check,
    "spark": spark.check,
    "network": network.check,
}

# what each host of a split site checks (jeg_wizard.roles): its own services, and the hub host the gateway
# host's gateway from its side ("all": every component)
ROLE_CHECKS: dict[str, tuple[str, ...]] = {
    "gateway": ("services", "gateway", "kernels", "spark", "network"),
    "hub": ("services", "gateway", "hub", "proxy", "user servers", "network"),
    "worker": ("services", "spark", "network"),
}


def for_role(role: str, checks: dict[str, Check] | None = None) -> dict[str, Check]:
    checks = CHECKS if checks is None else checks
    if role not in ROLE_CHECKS:
        return checks
    return {name: fn for name, fn in checks.items() if name in ROLE_CHECKS[role]}


# the cheap subset the Finish panels poll: the same functions, HTTP only (no /proc scan, no render)
QUICK: dict[str, Check] = {
    "gateway": gateway.answers,
    "hub": lambda s: [hub.public_url(s)],
    "proxy": proxy.api,
    "spark": spark.master,
    "kernels": kernels.archive,  # "being written in the background" after an install, then current
}


def masked(site: Install, findings: list[Finding]) -> list[Finding]:
    """A secret read by a check never leaves it: masked in every text of every finding."""
    r = site.secrets.redactor
    return [Finding(f.component, f.what, f.status, r(f.detail), r(f.fix), f.log, f.warning) for f in findings]


def run(
    layout: Layout,
    timeout: float = 3.0,
    deadline: float | None = None,
    checks: dict[str, Check] | None = None,
    site: Install | None = None,
) -> list[Finding]:
    """Every check (or the ones given) at once; one that has not answered by the deadline is unknown."""
    checks = for_role(layout.role) if checks is None else checks
    own = site is None
    site = site or Install(layout, timeout)
    budget = deadline if deadline is not None else timeout + 0.2
    results: dict[str, list[Finding]] = {}

    def probe(name: str, fn: Check) -> None:
        try:
            results[name] = fn(site)
        except Exception as e:  # noqa: BLE001 - a broken probe is a finding, not a crash
            results[name] = [unknown(name, "probe", f"the check itself failed: {type(e).__name__}: {e}")]

    # daemon threads: a probe stuck past the budget must not keep the process alive at exit
    threads = [threading.Thread(target=probe, args=item, daemon=True) for item in checks.items()]
    for t in threads:
        t.start()
    end = time.monotonic() + budget
    for t in threads:
        t.join(max(0.0, end - time.monotonic()))
    out: list[Finding] = []
    for name in checks:
        out += (
            results[name]
            if name in results
            else [unknown(name, "probe", f"no answer within {budget:.1f}s (a hung endpoint?)")]
        )
    if own and not any(t.is_alive() for t in threads):
        site.close()
    return masked(site, out)


def quick(layout: Layout, component: str, timeout: float = 3.0, secrets=None) -> list[Finding]:
    """One Finish panel's poll: that component's cheap checks."""
    site = Install(layout, timeout, secrets)
    try:
        return run(layout, timeout, checks={component: QUICK[component]}, site=site)
    finally:
        site.close()
