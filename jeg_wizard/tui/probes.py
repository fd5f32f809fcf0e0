"""What the Finish screen's health panels poll: one blocking probe per service (run in a thread
worker, each with its own timeout). No textual here; tests inject probes with fixed answers."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import httpx

from .. import health
from ..engine import Context

TIMEOUT = 3.0  # seconds; a panel never waits longer than this for one poll


@dataclass(frozen=True)
class Reading:
    up: bool
    version: str = ""  # what the service says it is
    detail: str = ""  # a short line: what answered, or why it did not
    latency_ms: float | None = None


@dataclass(frozen=True)
class Probe:
    name: str  # "gateway", "hub", "proxy", "spark-master"
    title: str
    url: str
    read: Callable[[], Reading]  # blocking; never raises


def _timed(fn: Callable[[], tuple[str, str]], clock=time.monotonic) -> Reading:
    t0 = clock()
    try:
        version, detail = fn()
    except (httpx.HTTPError, health.HealthError, ValueError, OSError) as e:
        return Reading(False, detail=_short(e), latency_ms=None)
    return Reading(True, version, detail, (clock() - t0) * 1000)


def _short(e: BaseException) -> str:
    text = str(e) or type(e).__name__
    if isinstance(e, httpx.ConnectError):
        text = "not answering (" + (text.split("] ", 1)[-1] if "]" in text else text) + ")"
    elif isinstance(e, httpx.TimeoutException):
        text = f"no answer within {TIMEOUT:g}s"
    return text.splitlines()[0][:120]


def default_probes(ctx: Context) -> list[Probe]:
    L, a = ctx.layout, ctx.answers

    def gateway() -> tuple[str, str]:
        version = health.gateway_version(L.gateway_url, ctx.secrets.gateway_token(), timeout=TIMEOUT,
                                         verify=L.gateway_verify)
        code = health.gateway_rejects_anonymous(L.gateway_url, timeout=TIMEOUT, verify=L.gateway_verify)
        return f"Enterprise Gateway {version}", f"token required ({code} without it)"

    def hub() -> tuple[str, str]:
        return f"JupyterHub {health.hub_version(L.hub_url, timeout=TIMEOUT, verify=L.hub_verify)}", f"login: {L.hub_url}/hub/login"

    def proxy() -> tuple[str, str]:
        r = httpx.get(L.proxy_api_url, headers={"Authorization": f"token {ctx.secrets.proxy_token()}"},
                      timeout=TIMEOUT)
        if r.status_code != 200:
            raise health.HealthError(f"API answered HTTP {r.status_code}")
        routes = r.json()
        return "configurable-http-proxy", f"{len(routes)} route{'s' * (len(routes) != 1)}: {', '.join(sorted(routes))[:60]}"

    probes = [
        Probe("gateway", "Gateway", L.gateway_url, lambda: _timed(gateway)),
        Probe("hub", "Hub", L.hub_url, lambda: _timed(hub)),
        Probe("proxy", "Proxy API", L.proxy_api_url, lambda: _timed(proxy)),
    ]
    if a.spark.master.startswith("spark://"):
        host = a.spark.master[len("spark://"):].rsplit(":", 1)[0]
        url = f"http://{host}:{a.spark.master_webui_port}"

        def master() -> tuple[str, str]:
            r = httpx.get(f"{url}/json/", timeout=TIMEOUT)
            if r.status_code != 200:
                raise health.HealthError(f"web UI answered HTTP {r.status_code}")
            j = r.json()
            workers = j.get("aliveworkers", len(j.get("workers", [])))
            return f"Spark master {j.get('status', '?')}", f"{workers} worker{'s' * (workers != 1)}, {j.get('cores', '?')} cores"

        probes.append(Probe("spark-master", "Spark master", url, lambda: _timed(master)))
    return probes
