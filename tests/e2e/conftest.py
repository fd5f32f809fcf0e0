"""One real install for the whole e2e session: temp prefix, free loopback ports, real apt/users/processes."""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import tomli_w

from jeg_wizard.answers import load
from jeg_wizard.layout import Layout

# Users are machine-wide: per-session names let two e2e sessions run side by side.
_SUFFIX = secrets.token_hex(2)
ADMIN = f"jegwa{_SUFFIX}"
GATEWAY_USER = f"jegwg{_SUFFIX}"


# measured, never asserted: printed at the end of the run (pytest_terminal_summary)
TIMINGS: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("e2e timings")
        for line in TIMINGS:
            terminalreporter.write_line(line)


def free_ports(n: int) -> list[int]:
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def wizard(*args: str, env: dict | None = None, timeout: float = 2400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jeg_wizard", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class Install:
    root: Path
    answers_path: Path
    layout: Layout
    password: str
    env: dict
    first: subprocess.CompletedProcess
    foreign_env: bytes

    @property
    def token(self) -> str:
        return self.layout.gateway_token_file.read_text().strip()


def make_answers(root: Path, **over) -> dict:
    gw, hub, hubint, api = free_ports(4)
    data = {
        "system": {"prefix": f"{root}/opt", "state_dir": f"{root}/state", "log_dir": f"{root}/log"},
        "environment": {"file": f"{root}/etc/environment"},
        "kernels": {"dir": f"{root}/share/jupyter/kernels"},
        "gateway": {"port": gw, "user": GATEWAY_USER},
        "proxy": {"api_port": api},
        "hub": {"ip": "127.0.0.1", "port": hub, "hub_port": hubint, "config_dir": f"{root}/etc/jupyter"},
        "users": {"admin": ADMIN, "admin_password_env": "JEGW_E2E_PASSWORD"},
        "services": {"manager": "process"},
    }
    for section, values in over.items():
        data.setdefault(section, {}).update(values)
    return data


FOREIGN_ENV = (
    b'PATH="/usr/local/bin:/usr/bin:/bin"\n#  a comment  with odd   spacing\n\tLANG=C.UTF-8 \nLAST_LINE_NO_NEWLINE=1'
)


# package: torn down when tests/e2e ends, before the TUI and systemd tiers of the same pytest run
@pytest.fixture(scope="package")
def installed():
    if os.geteuid() != 0:
        pytest.skip("the end-to-end install needs root (run tests/run with sudo)")
    root = Path(tempfile.mkdtemp(prefix="jegw-e2e-", dir="/tmp"))
    os.chmod(root, 0o755)  # the admin's server runs the hub venv's python from here
    (root / "etc").mkdir()
    (root / "etc" / "environment").write_bytes(FOREIGN_ENV)
    answers_path = root / "answers.toml"
    answers_path.write_text(tomli_w.dumps(make_answers(root)))
    password = "Canary-" + secrets.token_hex(8)
    env = {"JEGW_E2E_PASSWORD": password}
    layout = Layout(load(answers_path))
    gateway_user_existed = subprocess.run(["id", layout.a.gateway.user], capture_output=True).returncode == 0
    t0 = time.monotonic()
    first = wizard("install", "--unattended", str(answers_path), env=env)
    print(f"first install: {time.monotonic() - t0:.0f}s, rc {first.returncode}")
    inst = Install(root, answers_path, layout, password, env, first, FOREIGN_ENV)
    try:
        yield inst
    finally:
        stop = wizard("services", "stop", "--state-dir", str(layout.state_dir), timeout=120)
        print(stop.stdout, stop.stderr)
        subprocess.run(["userdel", "-r", ADMIN], capture_output=True)
        if not gateway_user_existed:
            subprocess.run(["userdel", layout.a.gateway.user], capture_output=True)
        leftovers = _processes_under(root)
        for pid in leftovers:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        if os.environ.get("JEGW_KEEP") != "1":
            shutil.rmtree(root, ignore_errors=True)
        assert not leftovers, f"processes left running after services stop: {leftovers}"


def cmdlines() -> dict[int, bytes]:
    """pid -> raw command line of every process we can see."""
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                out[int(d.name)] = (d / "cmdline").read_bytes()
            except OSError:
                continue
    return out


def _processes_under(root: Path) -> list[int]:
    return [pid for pid, cmd in cmdlines().items() if str(root).encode() in cmd and pid != os.getpid()]


def user_servers(user: str) -> set[int]:
    uid = pwd.getpwnam(user).pw_uid
    return {
        pid
        for pid, cmd in cmdlines().items()
        if b"jupyterhub-singleuser" in cmd and os.stat(f"/proc/{pid}").st_uid == uid
    }


def spawn(installed, timeout: float = 120) -> None:
    """The admin's server, running and serving Lab (started through the hub as a user would, when it is not:
    a server process alone may still be starting, and the hub's spawn-pending page answers 200 too)."""
    hub_url, password = installed.layout.hub_url, installed.password
    with httpx.Client(follow_redirects=True, timeout=30) as c:
        c.get(f"{hub_url}/hub/login")
        c.post(
            f"{hub_url}/hub/login?next=",
            data={"username": ADMIN, "password": password, "_xsrf": c.cookies.get("_xsrf") or ""},
        )
        c.post(
            f"{hub_url}/hub/api/users/{ADMIN}/server",
            headers={"X-XSRFToken": c.cookies.get("_xsrf", path="/hub/") or "", "Referer": f"{hub_url}/hub/home"},
        )
        deadline = time.monotonic() + timeout
        while True:
            r = c.get(f"{hub_url}/user/{ADMIN}/lab")
            if r.status_code == 200 and r.url.path.startswith(f"/user/{ADMIN}/"):  # Lab itself, not the hub's page
                break
            assert time.monotonic() < deadline, f"the admin's server did not come back: {r.status_code} {r.url}"
            time.sleep(0.5)
    assert user_servers(ADMIN)


@contextmanager
def edited(path: Path, change):
    """The file changed for the block, then put back byte for byte with its mode and owner."""
    original = path.read_bytes()
    mode, st = stat.S_IMODE(path.stat().st_mode), path.stat()
    path.write_text(change(original.decode()))
    try:
        yield
    finally:
        path.write_bytes(original)
        path.chmod(mode)
        os.chown(path, st.st_uid, st.st_gid)
