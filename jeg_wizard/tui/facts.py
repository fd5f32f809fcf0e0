"""What this machine has now, as the Welcome screen shows it. No textual here: plain probes,
run by the app in a thread worker (tests inject a fixed `Facts`)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from .. import distro, preflight
from ..answers import Answers
from ..layout import Layout


@dataclass(frozen=True)
class EarlierInstall:
    journal: str  # path of the journal we found
    steps: tuple[str, ...]  # steps that recorded changes, in the order they first did
    answers: str = ""  # the saved answers file, when there is one


@dataclass(frozen=True)
class Facts:
    distribution: str
    python: str  # the interpreter that builds the venvs (system.python)
    java: str
    node: str
    systemd: bool
    root: bool
    ports_in_use: tuple[str, ...]  # "hub.port 8000", ...
    earlier: EarlierInstall | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _version_of(argv: list[str], pattern: str = r"(\d+(\.\d+)+)") -> str:
    exe = shutil.which(argv[0]) if not argv[0].startswith("/") else (argv[0] if os.path.exists(argv[0]) else None)
    if not exe:
        return ""
    try:
        r = subprocess.run([exe, *argv[1:]], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    m = re.search(pattern, r.stdout + r.stderr)
    return m.group(1) if m else "present"


def java_summary(a: Answers) -> str:
    found = _version_of(["java", "-version"], r'version "([^"]+)"')
    jvms = sorted(p.name for p in Path("/usr/lib/jvm").glob("java-*")) if Path("/usr/lib/jvm").is_dir() else []
    if found:
        return f"{found} ({', '.join(jvms)})" if jvms else found
    return "not installed" + (f" (JVMs: {', '.join(jvms)})" if jvms else "")


def ports_in_use(a: Answers) -> tuple[str, ...]:
    ports = [
        ("gateway.port", a.gateway.ip, a.gateway.port),
        ("hub.port", a.hub.ip, a.hub.port),
        ("hub.hub_port", a.hub.hub_ip, a.hub.hub_port),
        ("proxy.api_port", a.proxy.api_ip, a.proxy.api_port),
    ]
    return tuple(f"{key} {port}" for key, ip, port in ports if preflight.port_in_use(ip, port))


def earlier_install(a: Answers) -> EarlierInstall | None:
    state = Layout(a).state_dir
    journal = state / "journal.jsonl"
    try:
        text = journal.read_text()
    except OSError:
        return None
    steps: list[str] = []
    for line in text.splitlines():
        try:
            sid = json.loads(line).get("step", "")
        except ValueError:
            continue
        if sid and sid not in steps:
            steps.append(sid)
    saved = state / "answers.toml"
    return EarlierInstall(str(journal), tuple(steps), str(saved) if saved.exists() else "")


def detect(a: Answers) -> Facts:
    """Slow-ish (subprocesses, connects): call from a worker thread."""
    node = distro.node_major()
    node_text = _version_of(["node", "--version"]) if node else "not installed"
    python = _version_of([a.system.python, "--version"]) or f"{a.system.python}: not found"
    return Facts(
        distribution=distro.detect().pretty,
        python=f"{python} ({a.system.python}); wizard runs on {sys.version.split()[0]}",
        java=java_summary(a),
        node=node_text,
        systemd=distro.systemd_running(),
        root=os.geteuid() == 0,
        ports_in_use=ports_in_use(a),
        earlier=earlier_install(a),
        notes=tuple(distro.choices(a)),
    )
