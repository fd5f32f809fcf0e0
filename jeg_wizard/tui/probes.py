"""What the Finish screen's health panels poll: per component, the cheap subset of the checks
(jeg_wizard.checks.QUICK), in the checks' own vocabulary. No textual here; tests inject probes
with fixed findings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .. import checks
from ..checks import Finding
from ..engine import Context
from ..secrets import Secrets

TIMEOUT = 3.0  # seconds; a panel never waits longer than this for one poll


@dataclass(frozen=True)
class Probe:
    name: str  # a component: "gateway", "hub", "proxy", "spark"
    title: str
    url: str
    read: Callable[[], list[Finding]]  # blocking; never raises


def default_probes(ctx: Context) -> list[Probe]:
    L = ctx.layout

    def read(component: str) -> Callable[[], list[Finding]]:
        # the token files as they are now (not the run's cached values); masked by the run's redactor
        return lambda: checks.quick(L, component, TIMEOUT, Secrets(ctx.answers, L, ctx.secrets.redactor))

    probes = [
        Probe("gateway", "Gateway", L.gateway_url, read("gateway")),
        Probe("hub", "Hub", L.hub_url, read("hub")),
        Probe("proxy", "Proxy API", L.proxy_api_url, read("proxy")),
    ]
    if L.spark_master_webui:
        probes.append(Probe("spark", "Spark master", L.spark_master_webui, read("spark")))
    if L.kernel_jvm_archive and L.runs("gateway"):
        probes.append(Probe("kernels", "Kernels' JVM archive", str(L.kernel_jvm_archive), read("kernels")))
    return probes
