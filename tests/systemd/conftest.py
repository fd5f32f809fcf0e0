"""The real-servers tier: per distribution, one container with systemd as PID 1, one install as the
README says, shared by every test of that distribution (module-scoped, parametrized by distribution).

Distributions: JEGW_SYSTEMD_DISTROS (space separated; default "bookworm noble"; `tests/run
--all-distros` sets "bookworm noble trixie jammy"). The container shares this machine's network, so
the default ports must be free here, and distributions run one after the other.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from . import host

DEFAULT_DISTROS = "bookworm noble"
PORTS = (8000, 8001, 8081, 8888)
HUB = "http://127.0.0.1:8000"
GATEWAY = "http://127.0.0.1:8888"
ADMIN = "hubadmin"
PASSWORD_ENV = "JEGW_ADMIN_PASSWORD"
STATE = "/var/lib/jeg-wizard"
KERNEL = "spark_python_local"
KERNEL_DISPLAY = "Spark - Python (local)"

# distro -> {measure: value}; printed at the end of the session (pytest_terminal_summary)
TIMINGS: dict[str, dict[str, str]] = {}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "systemd: boots containers with systemd as PID 1 and installs in them (slow, root)"
    )


def selected() -> list[str]:
    names = os.environ.get("JEGW_SYSTEMD_DISTROS", DEFAULT_DISTROS).split()
    unknown = [n for n in names if n not in host.DISTROS]
    if unknown:
        raise pytest.UsageError(f"JEGW_SYSTEMD_DISTROS: unknown {unknown}; known: {sorted(host.DISTROS)}")
    return names


def record(distro: str, what: str, value: str) -> None:
    TIMINGS.setdefault(distro, {})[what] = value
    print(f"[systemd] {distro}: {what} = {value}")


def busy_ports(ports=PORTS) -> list[str]:
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, timeout=30).stdout
    busy = []
    for line in out.splitlines():
        local = line.split()[3] if len(line.split()) > 3 else ""
        port = local.rsplit(":", 1)[-1]
        if port.isdigit() and int(port) in ports:
            busy.append(line.strip())
    return busy


@dataclass
class Server:
    distro: host.Distro
    machine: host.Machine
    password: str
    example: subprocess.CompletedProcess | None = None
    install: subprocess.CompletedProcess | None = None
    install_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def m(self) -> host.Machine:
        return self.machine

    @property
    def env(self) -> dict:
        return {PASSWORD_ENV: self.password}

    @property
    def installed_ok(self) -> bool:
        return self.install is not None and self.install.returncode == 0

    def require_install(self) -> None:
        if self.distro.refused:
            pytest.skip(f"{self.distro.title} is refused before any change by design: {self.distro.refused}…")
        if not self.installed_ok:
            tail = (
                (self.install.stdout + self.install.stderr)[-1500:]
                if self.install
                else (self.example.stdout + self.example.stderr)[-1500:]
                if self.example
                else ""
            )
            pytest.fail(
                f"the install on {self.distro.title} did not succeed (see test_install_as_the_readme_says):\n{tail}"
            )

    def secret(self, inside: str) -> str:
        return self.m.path(inside).read_text().strip()

    def secrets(self) -> dict[str, str]:
        """Every secret of the install, by name (read from the container's file system)."""
        out = {"admin password": self.password}
        sec = self.m.path(f"{STATE}/secrets")
        if sec.is_dir():
            for p in sorted(sec.iterdir()):
                if p.is_file():
                    out[f"secrets/{p.name}"] = p.read_text(errors="replace").strip()
        cookie = self.m.path(f"{STATE}/hub/jupyterhub_cookie_secret")
        if cookie.is_file():
            out["cookie secret"] = cookie.read_text(errors="replace").strip()
        return {k: v for k, v in out.items() if len(v) >= 8}

    def gateway_token(self) -> str:
        return self.secret(f"{STATE}/secrets/gateway-token")

    def wizard(self, args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """`jeg-wizard ARGS` as printed in the README: the command on PATH in a root login shell."""
        return self.m.sh(f"jeg-wizard {args}", timeout=timeout, env=self.env)

    def run_install(self, label: str) -> subprocess.CompletedProcess:
        t0 = time.monotonic()
        r = self.m.sh("cd /src && ./jeg-wizard install --unattended /root/answers.toml", timeout=2700, env=self.env)
        secs = time.monotonic() - t0
        record(self.distro.key, label, f"{secs:.0f}s (rc {r.returncode})")
        logs = host.WORK / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        name = f"{self.distro.key}-{label.replace(' ', '-')}"
        (logs / f"{name}.out").write_text(r.stdout + r.stderr)
        inside = self.m.path("/var/log/jeg-wizard/install.log")
        if inside.exists():
            (logs / f"{name}.install.log").write_bytes(inside.read_bytes())
        print(f"[systemd] {self.distro.key}: {label} output and install.log kept in {logs}/{name}.*")
        if label == "install":
            self.install_seconds = secs
        return r


@pytest.fixture(scope="module", params=selected())
def server(request):
    d = host.DISTROS[request.param]
    if os.geteuid() != 0:
        pytest.skip("the systemd tier needs root (run tests/run with sudo)")
    busy = busy_ports()
    if busy:
        pytest.fail(
            f"the container shares this machine's network and needs ports {PORTS} free; in use:\n" + "\n".join(busy)
        )
    try:
        host.archive_reachable(d)
    except host.Unavailable as exc:
        pytest.skip(str(exc))
    machine = host.Machine.create(d)
    srv = Server(d, machine, "Canary-" + secrets.token_hex(10))
    try:
        record(d.key, "boot", f"{machine.boot():.1f}s")
        # As a new user: the example answers, plus where the password comes from.
        srv.example = machine.sh("cd /src && ./jeg-wizard answers --example > /root/answers.toml", timeout=900)
        print(f"[systemd] {d.key}: answers --example rc {srv.example.returncode}\n{srv.example.stderr[-2000:]}")
        if srv.example.returncode == 0:
            machine.ok(
                f'sed -i \'s/^admin_password_env = ""/admin_password_env = "{PASSWORD_ENV}"/\' /root/answers.toml'
                f" && grep -q '^admin_password_env = \"{PASSWORD_ENV}\"' /root/answers.toml"
            )
            srv.install = srv.run_install("install")
            print((srv.install.stdout + srv.install.stderr)[-3000:])
        yield srv
    finally:
        journal = ""
        if machine.leader:
            try:
                journal = machine.sh("journalctl -b --no-pager -u 'jeg-*' | tail -n 60", timeout=60).stdout
            except subprocess.TimeoutExpired:
                pass
        machine.destroy()
        left = machine.leftovers()
        if journal:
            print(f"[systemd] {d.key}: last journal lines of our units:\n{journal}")
        assert not left, f"{d.title}: left on this machine after poweroff: {left}"
        assert not busy_ports(), f"{d.title}: ports still in use after poweroff: {busy_ports()}"


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("systemd tier timings")
    for distro, values in TIMINGS.items():
        line = ", ".join(f"{k} {v}" for k, v in values.items())
        terminalreporter.write_line(f"{distro}: {line}")
