"""configurable-http-proxy: its API answers the hub's token, and it is the running hub's child."""

from __future__ import annotations

from ..secrets import SecretError
from . import httpget
from . import processes as proc
from .finding import Finding, ok, problem, unknown
from .install import Install

C = "proxy"


def api(site: Install) -> list[Finding]:
    """The quick part (the Finish panel): the routes, with the hub's token."""
    L, log = site.L, site.log("hub")
    try:
        token = site.secrets.proxy_token(generate=False) or ""
    except SecretError as e:
        return [problem(C, "token", str(e), f"chmod 600 {L.proxy_token_file}")]
    except OSError as e:
        return [unknown(C, "API", f"cannot read {L.proxy_token_file}: {e.strerror}", "run the doctor as root")]
    try:
        r = site.get(L.proxy_api_url, headers={"Authorization": f"token {token}"})
    except httpget.errors():
        return [
            problem(
                C,
                "API",
                f"{L.proxy_api_url} does not answer: the proxy is down",
                "jeg-wizard services restart hub (the hub starts the proxy)",
                log,
            )
        ]
    if r.status_code in (401, 403):
        owner = orphan(site)
        why = f" and it is not the hub's child: an orphaned proxy ({proc.describe(owner)})" if owner else ""
        return [
            problem(
                C,
                "API",
                f"the proxy refuses the hub's token (HTTP {r.status_code}){why}",
                f"kill {owner} and run: jeg-wizard services restart hub"
                if owner
                else "jeg-wizard services restart hub",
                log,
            )
        ]
    try:
        routes = r.json() if r.status_code == 200 else None
    except ValueError:
        routes = None
    if not isinstance(routes, dict):
        return [
            unknown(
                C,
                "API",
                f"{L.proxy_api_url} answers HTTP {r.status_code} without a route table",
                "is this the proxy? check proxy.api_ip/api_port",
                log,
            )
        ]
    return [ok(C, "API", f"{len(routes)} routes: {', '.join(sorted(routes))[:100]}")]


def orphan(site: Install) -> int | None:
    """The pid on the proxy's API port when it is not the running hub's child."""
    owner = site.sockets.port_owner(site.a.proxy.api_port)
    hub = site.pid("hub")
    return owner if owner and hub and proc.ppid(owner) != hub else None


def check(site: Install) -> list[Finding]:
    out = api(site)
    if out[0].status == "ok":
        owner = orphan(site)
        if owner:
            out.append(
                problem(
                    C,
                    "owner",
                    f"the proxy is not the running hub's child: {proc.describe(owner)}",
                    f"kill {owner} and run: jeg-wizard services restart hub",
                    site.log("hub"),
                    warning=True,
                )
            )
    return out
