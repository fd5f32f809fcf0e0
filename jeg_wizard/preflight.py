"""Checks made before anything changes: root, secrets readable, ports free (or held by us)."""
from __future__ import annotations

import os
import socket

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
    return out
