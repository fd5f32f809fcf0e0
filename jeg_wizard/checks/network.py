"""The network around the stack: configured addresses exist here, and a web proxy does not swallow
the calls between hub, user servers and gateway."""

from __future__ import annotations

from pathlib import Path

from ..machine import address_here
from . import processes as proc
from .finding import Finding, ok, problem
from .install import Install

C = "network"


def addresses(site: Install) -> list[Finding]:
    return [
        problem(
            C,
            key,
            f"{ip} is not an address of any interface here: nothing can listen on it",
            f"set {key} to an address of this host (ip -br addr)",
        )
        for key, ip in site.L.listen_addresses
        if not address_here(ip)
    ]


def _assignment(text: str, names: tuple[str, ...]) -> str | None:
    """The value of NAME=… in an environment file (KEY=VALUE lines, optionally quoted)."""
    for line in text.splitlines():
        key, sep, val = line.strip().partition("=")
        if sep and key in names:
            return val.strip().strip('"')
    return None


def web_proxy(site: Install) -> list[Finding]:
    a = site.a
    pid = site.pid("hub")
    env = proc.environ(pid) if pid else {}
    try:
        env_file = Path(a.environment.file).read_text()
    except OSError:
        env_file = ""
    if not (env.get("http_proxy") or env.get("HTTP_PROXY") or _assignment(env_file, ("http_proxy", "HTTP_PROXY"))):
        return []
    no_proxy = (
        (env.get("no_proxy") or env.get("NO_PROXY") or "")
        + ","
        + (_assignment(env_file, ("no_proxy", "NO_PROXY")) or "")
    )
    hosts = {a.gateway.ip, a.hub.hub_ip, "127.0.0.1", "localhost"}
    missing = sorted(h for h in hosts if h not in no_proxy and h != "0.0.0.0")
    if not missing:
        return []
    return [
        problem(
            C,
            "proxy variables",
            f"http_proxy is set but NO_PROXY lacks {', '.join(missing)}: hub and gateway calls may go through the web proxy",
            f"add NO_PROXY={','.join(missing)} next to http_proxy (in {a.environment.file} and the services' environment)",
            warning=True,
        )
    ]


def check(site: Install) -> list[Finding]:
    out = addresses(site) + web_proxy(site)
    return out or [ok(C, "addresses", "configured addresses exist; no web proxy in the way")]
