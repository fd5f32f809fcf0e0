"""Hosts of a site on this machine: one network namespace per host, joined by veth pairs in a private
/24 (../shared/HOSTS-FACTS.md). While a site exists the root namespace has an unreachable route for
that /24, so no test traffic leaves the machine; the namespaces have no route anywhere else."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field

NET = "10.231.0"  # the site's /24


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=check)


@dataclass
class Site:
    """One namespace per host (jegw-<name>-<pid>), host n (from 1) at NET.n; each host's veth ends on a
    bridge in a namespace of its own (jegw-lan-<pid>), the site's switch."""

    names: list[str]
    tag: str = field(default_factory=lambda: str(os.getpid()))
    made: list[str] = field(default_factory=list)
    route: bool = False

    @property
    def lan(self) -> str:
        return f"jegw-lan-{self.tag}"

    def ns(self, name: str) -> str:
        return f"jegw-{name}-{self.tag}"

    def address(self, name: str) -> str:
        return f"{NET}.{self.names.index(name) + 1}"

    def up(self) -> Site:
        # the root namespace: traffic to the site's /24 is refused here, never sent off the machine
        r = ip("route", "add", "unreachable", f"{NET}.0/24", check=False)
        if r.returncode != 0 and "File exists" not in r.stderr:
            raise RuntimeError(f"ip route add unreachable {NET}.0/24: {r.stderr.strip()}")
        self.route = r.returncode == 0  # another run's route stays that run's to remove
        for ns in (self.lan, *map(self.ns, self.names)):
            ip("netns", "add", ns)
            self.made.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        ip("-n", self.lan, "link", "add", "br0", "type", "bridge")
        ip("-n", self.lan, "link", "set", "br0", "up")
        for i, name in enumerate(self.names):
            here, there = f"jgw{self.tag[-5:]}h{i}", f"jgw{self.tag[-5:]}l{i}"
            ip("link", "add", here, "type", "veth", "peer", "name", there)
            ip("link", "set", here, "netns", self.ns(name))
            ip("link", "set", there, "netns", self.lan)
            ip("-n", self.lan, "link", "set", there, "master", "br0")
            ip("-n", self.lan, "link", "set", there, "up")
            ip("-n", self.ns(name), "addr", "add", f"{self.address(name)}/24", "dev", here)
            ip("-n", self.ns(name), "link", "set", here, "up")
        return self

    def link(self, name: str, state: str) -> None:
        """A host's cable: down (the host is gone from the network) or up."""
        i = self.names.index(name)
        ip("-n", self.ns(name), "link", "set", f"jgw{self.tag[-5:]}h{i}", state)

    def down(self) -> None:
        for ns in reversed(self.made):
            ip("netns", "del", ns, check=False)  # takes its veth ends with it
        self.made.clear()
        if self.route:
            ip("route", "del", "unreachable", f"{NET}.0/24", check=False)
            self.route = False

    def run(self, name: str, argv: list[str], **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.ns(name), *argv], **kw)

    def popen(self, name: str, argv: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", self.ns(name), *argv], **kw)
