"""Which part of a site this host installs: all (one host, the default), the gateway host, the hub host
or a Spark worker host. Given with --role, or found from this host's addresses and the answers' [site]."""

from __future__ import annotations

import socket
from collections.abc import Callable

from .answers_base import AnswersError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .answers import Answers

ROLES = ("all", "gateway", "hub", "worker")
SPLIT_ROLES = ROLES[1:]

# what each role is, for the plan's header and the messages
DOES = {
    "all": "everything on this host",
    "gateway": "the gateway host: Enterprise Gateway, the kernels, Spark (the master when standalone)",
    "hub": "the hub host: JupyterHub, the proxy and the user servers, joined to the gateway host",
    "worker": "a Spark worker host: Java, Spark and a worker joining the master on the gateway host",
}


def _local(host: str, here: Callable[[str], bool]) -> bool:
    """host (an IP or a name) is one of this machine's addresses; a name that does not resolve is not."""
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return False
    return any(here(addr.split("%")[0]) for addr in addrs)


def _address_here(ip: str) -> bool:
    import ipaddress

    from .machine import address_here

    return not ipaddress.ip_address(ip).is_loopback and address_here(ip)


def hosts(a: Answers) -> dict[str, list[str]]:
    """role -> the site's addresses for it."""
    s = a.site
    return {"gateway": [s.gateway_host], "hub": [s.hub_host], "worker": list(s.worker_hosts)}


def detect(a: Answers, given: str | None = None, here: Callable[[str], bool] = _address_here) -> str:
    """This host's role; AnswersError naming --role or site.* when it cannot be told."""
    if given is not None and given not in ROLES:
        raise AnswersError([f"--role: unknown role {given!r}; allowed: {', '.join(ROLES)}"])
    if not a.site.split:
        if given not in (None, "all"):
            raise AnswersError(
                [
                    f"--role {given}: the answers have no [site] (site.gateway_host, site.hub_host), so everything "
                    "runs on this host; describe the site's hosts in [site], or leave --role out"
                ]
            )
        return "all"
    if given == "all":
        raise AnswersError(
            [
                f"--role all: the answers' [site] puts the gateway on {a.site.gateway_host} and the hub on "
                f"{a.site.hub_host}; give this host's part: --role {'|'.join(SPLIT_ROLES)}"
            ]
        )
    if given:
        return given
    found = [role for role, addrs in hosts(a).items() for h in addrs if _local(h, here)]
    if len(found) == 1:
        return found[0]
    listed = "; ".join(f"{r}: {', '.join(h) or '-'}" for r, h in hosts(a).items())
    if not found:
        raise AnswersError(
            [
                f"--role: none of the site's addresses is on this host ({listed}); give --role "
                f"{'|'.join(SPLIT_ROLES)}, or correct site.gateway_host / site.hub_host / site.worker_hosts"
            ]
        )
    raise AnswersError(
        [f"--role: this host has the addresses of several roles ({', '.join(found)}; {listed}); give --role"]
    )


def worker_host(a: Answers, here: Callable[[str], bool] = _address_here) -> str:
    """The worker's own address from site.worker_hosts (the first on this host; the first when none is)."""
    hs = list(a.site.worker_hosts)
    return next((h for h in hs if _local(h, here)), hs[0] if hs else "127.0.0.1")
