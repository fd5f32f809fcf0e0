"""Checks made before anything changes: root, secrets readable, ports free (or held by us)."""
from __future__ import annotations

import os
import socket
from pathlib import Path

from .answers import Answers
from .layout import Layout
from .services import manager


def port_in_use(ip: str, port: int) -> bool:
    host = "127.0.0.1" if ip in ("0.0.0.0", "") else ("::1" if ip == "::" else ip)
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def problems(a: Answers, *, need_root: bool = True) -> list[str]:
    out = []
    if need_root and os.geteuid() != 0:
        out.append("run as root (sudo): the install adds packages, a PAM user and services")
    L = Layout(a)
    mgr = manager(a.services.manager, L.services_dir)
    ours = {
        "gateway": [("gateway.port", a.gateway.ip, a.gateway.port)],
        "hub": [("hub.port", a.hub.ip, a.hub.port), ("hub.hub_port", a.hub.hub_ip, a.hub.hub_port),
                ("proxy.api_port", a.proxy.api_ip, a.proxy.api_port)],
    }
    for service, ports in ours.items():
        if mgr.pid(service):
            continue  # our own running service holds them; the install restarts it when needed
        for key, ip, port in ports:
            if port_in_use(ip, port):
                out.append(f"{key}: port {port} on {ip} is already in use by another program; "
                           f"stop it or choose another port")
    out += _admin_not_refused(a)
    out += _given_tls_files(a)
    out += _hub_tls_key(a)
    out += _machine(a)
    return out


def _machine(a: Answers) -> list[str]:
    """Answers that cannot work on this machine (addresses, programs, accounts, symlinked system dirs)."""
    from . import machine

    return machine.problems(a)


def _hub_tls_key(a: Answers) -> list[str]:
    from .secrets import SecretError, read_private_file

    try:
        if a.hub.tls_key:
            read_private_file(Path(a.hub.tls_key), "hub.tls_key")
    except (SecretError, OSError) as e:
        return [str(e)]
    return []


def _given_tls_files(a: Answers) -> list[str]:
    """gateway.tls = "files": a private key only we can read, and a certificate that CA signed for our host."""
    if a.gateway.tls != "files":
        return []
    from urllib.parse import urlsplit

    from . import tls
    from .secrets import SecretError, read_private_file

    g = a.gateway
    try:
        read_private_file(Path(g.tls_key), "gateway.tls_key")
        tls.check_gateway_files(Path(g.tls_cert), Path(g.tls_key), Path(g.tls_ca), urlsplit(Layout(a).gateway_url).hostname)
    except (SecretError, tls.TLSError, OSError) as e:
        return [f"gateway.tls_cert: {e}" if isinstance(e, tls.TLSError) else str(e)]
    return []


def group_members(groups: list[str]) -> dict[str, str]:
    """user -> the first of groups it belongs to (as a supplementary or its primary group)."""
    import grp
    import pwd

    out: dict[str, str] = {}
    for name in groups:
        try:
            g = grp.getgrnam(name)
        except KeyError:
            continue
        for u in [*g.gr_mem, *(p.pw_name for p in pwd.getpwall() if p.pw_gid == g.gr_gid)]:
            out.setdefault(u, name)
    return out


def _admin_not_refused(a: Answers) -> list[str]:
    """The gateway refuses kernels for members of gateway.unauthorized_groups; the admin must not be one."""
    group = group_members(a.gateway.unauthorized_groups).get(a.users.admin)
    if not group:
        return []
    return [f"users.admin: '{a.users.admin}' is a member of {group}, and the gateway refuses kernels for members of "
            f"gateway.unauthorized_groups ({', '.join(a.gateway.unauthorized_groups)}) because such a kernel could "
            f"become root; choose a hub admin who is not a sudoer, or remove '{group}' from gateway.unauthorized_groups"]
