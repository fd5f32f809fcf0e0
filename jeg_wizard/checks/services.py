"""The gateway and the hub as processes: running, on their ports and addresses, as the right user,
not looping; and when one is down, why: its config does not compile, another program holds one of
its ports, or what its log says, with its restart count."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..services import config_error
from . import processes as proc
from .finding import Finding, ok, problem, unknown
from .install import Install

C = "services"


def python_config(site: Install, name: str) -> tuple[Path, Path, str] | None:
    """(interpreter, config file, install step) of a service with a Python config."""
    L = site.L
    return {
        "gateway": (L.gateway_venv / "bin" / "python", L.gateway_config, "gateway"),
        "hub": (L.hub_venv / "bin" / "python", L.hub_config, "hub_config"),
    }.get(name)


def config_problem(site: Install, name: str) -> Finding | None:
    """The service's config compiles in its own interpreter; its recorded start spec is JSON."""
    log = site.log(name)
    spec = site.L.services_dir / f"{name}.json"
    try:
        json.loads(spec.read_text())
    except OSError:
        return None  # never started by the install: "not running" with the start command says it
    except ValueError as e:
        return problem(
            C,
            name,
            f"its start record {spec} is not JSON ({e}): it cannot be started",
            "re-run the install (services step) to write it again",
            log,
        )
    found = python_config(site, name)
    if not found:
        return None
    python, config, step = found
    if not python.exists():
        return problem(
            C,
            name,
            f"its interpreter {python} is missing: the venv is gone or moved",
            f"re-run the install ({'hub' if name == 'hub' else 'gateway'} step rebuilds the venv)",
            log,
        )
    if not config.exists():
        return problem(C, name, f"its config {config} is missing", f"re-run the install ({step} step)", log)
    why = config_error(python, config)
    if not why:
        return None
    return problem(
        C,
        name,
        why,
        f"fix that line of {config}, or write it again from the answers: re-run the install ({step} step); "
        f"then: jeg-wizard services restart {name}",
        log,
    )


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _log_cause(site: Install, name: str) -> tuple[str, str]:
    from ..services import read_log

    log = site.log(name)
    lines = proc.cause_lines(read_log(log, 120))
    return log, " | ".join(lines)[-500:]


def crash_loop(site: Install, name: str, pid: int | None) -> Finding | None:
    """Restarted by its supervisor (systemd or ours) and not up for long: name it, with the log's last lines."""
    restarts = site.manager.restarts(name)
    up = proc.uptime(pid) if pid else None
    # one restart after a crash or a kill is recovery; a loop restarts again and again
    if restarts < 2 or (up is not None and up > 60):
        return None
    log, cause = _log_cause(site, name)
    state = f"up {proc.human(up)}" if up is not None else "down between restarts"
    return problem(
        C,
        name,
        f"crash loop: restarted {_times(restarts)}, {state}; cause in the log: {cause or '(the log is empty)'}",
        f"fix the cause in the log ({log}), then: jeg-wizard services restart {name}",
        log,
    )


def held_port(site: Install, name: str, family: set[int]) -> Finding | None:
    """Any port of this service (its own, and for the hub its proxy's) held by a program not its own."""
    for key, ip, port in site.L.ports.get(name, []):
        owner = site.sockets.port_owner(port, ip)
        if owner and name == "hub" and any("configurable-http-proxy" in arg for arg in proc.cmdline(owner)[:2]):
            continue  # the hub's proxy, even orphaned: the hub takes it over (the proxy check names an orphan)
        if owner and owner not in family and proc.ppid(owner) not in family:
            holder, stop = proc.describe(owner), "stop that process"
        # a socket whose process we cannot see: another container or PID namespace on this network (as root
        # every process here is visible, ours included; as another user ours may not be, so only when down)
        elif site.sockets.held_unseen(port, ip) and (not family or os.geteuid() == 0):
            holder = "a process not visible from here (another container or namespace on this network)"
            stop = f"stop whatever listens on port {port}"
        else:
            continue
        running = f"running (pid {min(family)}) but" if family else "not running, and"
        return problem(
            C,
            name,
            f"{running} port {port} ({key}) is held by {holder}",
            f"{stop} (or move {key}), then: jeg-wizard services {'restart' if family else 'start'} {name}",
            site.log(name),
        )
    return None


def not_running(site: Install, name: str) -> Finding:
    """Down: say why, from the most certain cause to the least."""
    held = held_port(site, name, set())
    if held:
        return held
    log, cause = _log_cause(site, name)
    restarts = site.manager.restarts(name)
    if restarts and cause:  # it died (stopped by hand, nothing restarts it): its log says why
        return problem(
            C,
            name,
            f"not running: it exited {_times(restarts)} and was not restarted again; its log ends: {cause}",
            f"fix the cause in the log ({log}), then: jeg-wizard services start {name}",
            log,
        )
    return problem(C, name, "not running", f"jeg-wizard services start {name}", log)


def listening(site: Install, name: str, pid: int) -> Finding | None:
    """It listens on its own port at the address its clients use."""
    key, ip, port = site.L.ports[name][0]
    family = {pid} | {p for p in set(site.sockets.owners.values()) if proc.ppid(p) == pid}
    where = site.sockets.addresses(port, family)
    if where and not any(proc.covers(addr, ip) for addr in where):
        config = python_config(site, name)
        return problem(
            C,
            name,
            f"running (pid {pid}) on {', '.join(where)}:{port}, but its clients connect to {ip}:{port} "
            f"({key.replace('port', 'ip') if key.endswith('.port') else key})",
            (f"its config {config[1]} sets another address than the answers: " if config else "")
            + f"re-run the install to write it from the answers, then: jeg-wizard services restart {name}",
            site.log(name),
        )
    if not where:
        up, restarts = proc.uptime(pid), site.manager.restarts(name)
        log, cause = _log_cause(site, name)
        if restarts:
            return problem(
                C,
                name,
                f"not up: restarted {_times(restarts)}, the current try (pid {pid}) does not listen on port {port} "
                f"yet; its last run's log ends: {cause or '(nothing)'}",
                f"fix the cause in the log ({log}), then: jeg-wizard services restart {name}",
                log,
            )
        if up is not None and up < 30:
            return unknown(
                C, name, f"starting (pid {pid}, up {proc.human(up)}), not yet listening on port {port}", "", log
            )
        own = site.sockets.ports_of(pid)  # its own sockets (not its proxy's or kernels')
        if own:
            fix = (
                f"set port_retries = 0 in the gateway config and run: jeg-wizard services restart {name}"
                if name == "gateway"
                else f"re-run the install to write its config from the answers, then: jeg-wizard services restart {name}"
            )
            there = ", ".join(map(str, own))
            return problem(
                C, name, f"running (pid {pid}) but not on port {port} ({key}): it listens on {there}", fix, log
            )
        return problem(
            C,
            name,
            f"running (pid {pid}, up {proc.human(up)}) but it listens on no port; its log ends: {cause or '(nothing)'}",
            f"fix the cause in the log ({log}), then: jeg-wizard services restart {name}",
            log,
        )
    return None


def service(site: Install, name: str) -> Finding:
    a, log = site.a, site.log(name)
    pid = site.pid(name)
    broken = config_problem(site, name)
    if broken and not pid:
        return broken
    looping = crash_loop(site, name, pid)
    if looping:
        held = held_port(site, name, {pid} if pid else set())
        if held and not broken:  # the certain cause of the loop
            restarts = _times(site.manager.restarts(name))
            return problem(C, name, f"crash loop (restarted {restarts}): {held.detail}", held.fix, held.log)
        return broken or looping
    if not pid:
        return not_running(site, name)
    if broken:  # running on a config it read before (or on defaults): the next start fails
        return broken
    up, uid = proc.uptime(pid), proc.uid(pid)
    found = held_port(site, name, {pid}) or listening(site, name, pid)
    if found:
        return found
    if name == "gateway":
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
    port = site.L.ports[name][0][2]
    restarts = site.manager.restarts(name)
    again = f", restarted {_times(restarts)}" if restarts else ""
    since = f", up {proc.human(up)}" if up is not None else ""
    return ok(C, name, f"running, pid {pid}{since}, port {port}{again}")


def check(site: Install) -> list[Finding]:
    return [service(site, name) for name in site.L.ports]
