"""The gateway and the hub as processes: running, on their port, as the right user, not looping."""

from __future__ import annotations

from . import processes as proc
from .finding import Finding, ok, problem
from .install import Install

C = "services"


def crash_loop(site: Install, name: str, pid: int | None) -> Finding | None:
    """Restarted by its supervisor (systemd or ours) and not up for long: name it, with the log's last lines."""
    from ..services import read_log

    restarts = site.manager.restarts(name)
    up = proc.uptime(pid) if pid else None
    # one restart after a crash or a kill is recovery; a loop restarts again and again
    if restarts < 2 or (up is not None and up > 60):
        return None
    log = site.log(name)
    state = f"up {proc.human(up)}" if up is not None else "down between restarts"
    return problem(
        C,
        name,
        f"crash loop: restarted {restarts} times, {state}; cause in the log: "
        + " | ".join(proc.cause_lines(read_log(log, 120)))[-600:],
        f"fix the cause in the log ({log}), then: jeg-wizard services restart {name}",
        log,
    )


def service(site: Install, name: str, key: str, port: int) -> Finding:
    a, log = site.a, site.log(name)
    pid = site.pid(name)
    looping = crash_loop(site, name, pid)
    if looping:
        return looping
    owner = site.sockets.port_owner(port)
    if not pid:
        if owner:
            return problem(
                C,
                name,
                f"not running, and port {port} ({key}) is held by {proc.describe(owner)}",
                f"stop that process, then: jeg-wizard services start {name}",
                log,
            )
        return problem(C, name, "not running", f"jeg-wizard services start {name}", log)
    up, uid = proc.uptime(pid), proc.uid(pid)
    family = {pid} | {p for p in (owner,) if p and proc.ppid(p) == pid}
    if owner and owner not in family:
        return problem(
            C,
            name,
            f"running (pid {pid}) but port {port} ({key}) is held by another program: {proc.describe(owner)}",
            f"stop that process and run: jeg-wizard services restart {name}",
            log,
        )
    if name == "gateway":
        ports = site.sockets.ports_of(pid)
        if port not in ports:
            where = f"it listens on {', '.join(map(str, ports))}" if ports else "it listens on no port"
            return problem(
                C,
                name,
                f"running (pid {pid}) but not on port {port} ({key}): {where}",
                f"set port_retries = 0 in the gateway config and run: jeg-wizard services restart {name}",
                log,
            )
        if a.gateway.impersonation and uid != 0:
            return problem(
                C,
                name,
                f"runs as uid {uid} (pid {pid}) with gateway.impersonation on: "
                "kernels cannot switch to the hub user and fail to start",
                "re-run the install (impersonation runs the gateway as root)",
                log,
            )
        if uid == 0 and not a.gateway.impersonation:
            return problem(
                C,
                name,
                f"running as root (pid {pid}): every kernel, so every hub user, runs code as root",
                "set gateway.user to an unprivileged account (default jeg-gateway) and re-run the install",
                log,
                warning=True,
            )
    return ok(C, name, f"running, pid {pid}, up {proc.human(up)}, port {port}")


def check(site: Install) -> list[Finding]:
    out = []
    for name, ports in site.L.ports.items():
        key, _, port = ports[0]  # the service's own port; the proxy's are the proxy check's
        out.append(service(site, name, key, port))
    return out
