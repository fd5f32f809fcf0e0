"""Faults a site really meets, injected into the real install: the doctor's line names the cause and a fix
that works; after the fault is put back the doctor is healthy again. Each test restores what it broke.
The doctor's line and time for each fault are printed (run with -s to read them)."""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import stat
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from jeg_wizard import checks
from jeg_wizard.answers import load
from jeg_wizard.layout import Layout
from jeg_wizard.services import ProcessManager, ServiceSpec

from .conftest import ADMIN, edited, wizard

pytestmark = pytest.mark.e2e


def doctor(installed, *extra) -> tuple[int, str, float]:
    t0 = time.monotonic()
    r = wizard("doctor", "--answers", str(installed.answers_path), *extra, timeout=400)
    return r.returncode, r.stdout + r.stderr, time.monotonic() - t0


def bad(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("[!]", "[✗]", "[?]"))]


def line_of(out: str, prefix: str) -> str:
    """The finding starting with prefix, with its fix and log lines."""
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(prefix):
            rest = [x.strip() for x in lines[i + 1 : i + 3] if x.startswith("      ")]
            return " / ".join([line, *rest])
    raise AssertionError(f"no line {prefix!r} in:\n{out}")


def report(fault: str, found: str, took: float) -> None:
    print(f"\nFAULT {fault} ({took:.2f}s): {found}")


def services(installed, action, *names, timeout=200):
    t0 = time.monotonic()
    r = wizard("services", action, *names, "--state-dir", str(installed.layout.state_dir), timeout=timeout)
    return r, time.monotonic() - t0


def healthy_again(installed) -> None:
    for _ in range(40):  # a restarted service takes a few seconds to answer
        code, out, took = doctor(installed)
        if code == 0 and not bad(out):
            return
        time.sleep(1)
    raise AssertionError(f"not healthy again after the fault was put back:\n{out}")


def test_healthy_doctor_is_fast_and_quiet(installed):
    healthy_again(installed)
    times = []
    for _ in range(3):
        code, out, took = doctor(installed)
        assert code == 0 and not bad(out), out
        times.append(took)
    print(f"\ndoctor on a healthy install: {', '.join(f'{t:.2f}s' for t in times)} wall (a new process each)")


def test_smoke_with_the_gateway_down_is_a_counted_finding(installed):
    r, _ = services(installed, "stop", "gateway")
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        code, out, took = doctor(installed, "--smoke")
        found = line_of(out, "[✗] spark: smoke:")
        report("smoke, gateway down", found, took)
        assert "Traceback" not in out
        assert "start request of 'spark_python_local' failed after" in found and "no answer (ConnectError)" in found
        assert "log: " in found
        summary = out.strip().splitlines()[-1]
        assert summary.startswith("down:") and re.search(r"[1-9]\d* problems?\b", summary), summary
        # nothing of the gateway is green while it is down
        assert not [x for x in out.splitlines() if x.startswith(("[✓] gateway:", "[✓] services: gateway"))], out
        assert code == 2
    finally:
        r, _ = services(installed, "start", "gateway")
        assert r.returncode == 0, r.stdout + r.stderr
    healthy_again(installed)


def test_nothing_green_while_the_hub_is_down(installed):
    r, _ = services(installed, "stop", "hub")
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        code, out, took = doctor(installed)
        report("hub stopped", line_of(out, "[✗] services: hub:"), took)
        green = [x for x in out.splitlines() if x.startswith(("[✓] hub:", "[✓] proxy:", "[✓] services: hub"))]
        assert not green, out
        assert "fix: jeg-wizard services start hub" in out
        assert code == 2
    finally:
        r, _ = services(installed, "start", "hub")
        assert r.returncode == 0, r.stdout + r.stderr
    healthy_again(installed)


def test_config_that_does_not_compile(installed):
    cfg = installed.layout.gateway_config
    with edited(cfg, lambda t: t + "\nc.EnterpriseGatewayApp.port = (\n"):
        code, out, took = doctor(installed)
        found = line_of(out, "[✗] services: gateway:")
        report("gateway config does not compile", found, took)
        assert f"its config {cfg} does not compile in {installed.layout.gateway_venv}/bin/python: SyntaxError" in found
        assert "fix: fix that line of" in found and "jeg-wizard services restart gateway" in found
        # a restart refuses at once (JEG would start on its defaults: port 8888, no token), the old one keeps going
        r, secs = services(installed, "restart", "gateway")
        print(f"services restart with that config: rc {r.returncode} in {secs:.1f}s: {r.stdout.strip()}")
        assert r.returncode == 1 and "does not compile" in r.stdout
        assert secs < 60, f"it waited for its 90 s start timeout ({secs:.0f}s)"  # behaviour, not speed
    healthy_again(installed)


def test_service_that_exits_at_start(installed):
    cfg = installed.layout.hub_config
    with edited(cfg, lambda t: t + "\nimport jegw_no_such_module\n"):
        r, secs = services(installed, "restart", "hub")
        print(f"services restart, hub exits at start: rc {r.returncode} in {secs:.1f}s: {r.stdout.strip()[:400]}")
        assert r.returncode == 1, r.stdout
        assert secs < 60, f"it waited for its 90 s start timeout ({secs:.0f}s)"  # the exit is seen at once
        assert "No module named 'jegw_no_such_module'" in r.stdout
        time.sleep(4)  # its supervisor restarts it: the doctor names the loop and its cause
        code, out, took = doctor(installed)
        found = line_of(out, "[✗] services: hub:")
        report("hub exits at start (crash loop)", found, took)
        assert "No module named 'jegw_no_such_module'" in found and "fix: fix the cause in the log" in found
    r, _ = services(installed, "restart", "hub")
    assert r.returncode == 0, r.stdout
    healthy_again(installed)


def test_port_held_by_another_program(installed):
    L = installed.layout
    r, _ = services(installed, "stop", "hub")
    assert r.returncode == 0
    try:
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((L.a.hub.ip, L.a.hub.port))  # the public port (the proxy's), not the hub's own
            squatter.listen()
            code, out, took = doctor(installed)
            found = line_of(out, "[✗] services: hub:")
            report("hub.port held by another program", found, took)
            assert f"not running, and port {L.a.hub.port} (hub.port) is held by pid {os.getpid()}" in found
            assert "fix: stop that process (or move hub.port), then: jeg-wizard services start hub" in found
    finally:
        r, _ = services(installed, "start", "hub")
        assert r.returncode == 0, r.stdout + r.stderr
    healthy_again(installed)


def test_listening_on_another_address(installed):
    """The gateway's config says another address than the answers (and so than its clients)."""
    L = installed.layout
    sdir = L.services_dir
    cfg = L.gateway_config
    r, _ = services(installed, "stop", "gateway")
    assert r.returncode == 0
    try:
        ip_line = f'c.EnterpriseGatewayApp.ip = "{L.a.gateway.ip}"'
        with edited(cfg, lambda t: t.replace(ip_line, 'c.EnterpriseGatewayApp.ip = "127.0.0.2"')):
            assert "127.0.0.2" in cfg.read_text()
            data = json.loads((sdir / "gateway.json").read_text())
            data.pop("digest", None)
            ProcessManager(sdir).start(ServiceSpec(**data))  # started, not waited for: it never answers here
            for _ in range(60):
                code, out, took = doctor(installed)
                if "127.0.0.2" in out:
                    break
                time.sleep(1)
            found = line_of(out, "[✗] services: gateway:")
            report("gateway listens on another address", found, took)
            assert (
                f"on 127.0.0.2:{L.a.gateway.port}, but its clients connect to {L.a.gateway.ip}:{L.a.gateway.port}"
                in found
            )
            assert "re-run the install to write it from the answers" in found
            ProcessManager(sdir).stop("gateway")
    finally:
        r, _ = services(installed, "start", "gateway")
        assert r.returncode == 0, r.stdout + r.stderr
    healthy_again(installed)


def test_user_prerequisites(installed):
    pw = pwd.getpwnam(ADMIN)
    home = Path(pw.pw_dir)
    st = home.stat()
    try:
        os.chown(home, 0, 0)
        code, out, took = doctor(installed)
        found = line_of(out, "[✗] hub: admin user:")
        report("admin's home owned by root", found, took)
        assert f"{ADMIN}'s home {home} is owned by uid 0, not {ADMIN}" in found and f"chown -R {ADMIN}: {home}" in found
        os.chown(home, st.st_uid, st.st_gid)
        home.chmod(0o777)
        code, out, took = doctor(installed)
        found = line_of(out, "[✗] hub: admin user:")
        report("admin's home mode 777", found, took)
        assert "has mode 777: others can write in it" in found and f"chmod go-w {home}" in found
        home.chmod(stat.S_IMODE(st.st_mode))
        subprocess.run(["usermod", "-s", "/usr/sbin/nologin", ADMIN], check=True)
        code, out, took = doctor(installed)
        found = line_of(out, "[!] hub: admin user:")
        report("admin's shell nologin", found, took)
        assert "shell is /usr/sbin/nologin, not a login shell" in found and f"chsh -s /bin/bash {ADMIN}" in found
    finally:
        os.chown(home, st.st_uid, st.st_gid)
        home.chmod(stat.S_IMODE(st.st_mode))
        subprocess.run(["usermod", "-s", pw.pw_shell, ADMIN], check=True)
    L = installed.layout
    gst = L.gateway_home.stat()
    try:
        os.chown(L.gateway_home, 0, 0)
        code, out, took = doctor(installed)
        found = line_of(out, "[✗] gateway: gateway user:")
        report("gateway home owned by root", found, took)
        assert f"{L.gateway_home} is owned by uid 0, not {L.a.gateway.user}" in found
    finally:
        os.chown(L.gateway_home, gst.st_uid, gst.st_gid)
    healthy_again(installed)


@pytest.mark.parametrize("which", ["proxy token", "gateway token", "hub environment"])
def test_secret_file_owner_and_mode(installed, which):
    comp, what, path, owner = next(s for s in installed.layout.secret_files if s[1] == which)
    st = path.stat()
    try:
        path.chmod(0o644)
        code, out, took = doctor(installed)
        found = line_of(out, f"[✗] {comp}: {what}:")
        report(f"{what} mode 644", found, took)
        assert f"{path} has mode 644: others can read it" in found and f"fix: chmod 600 {path}" in found
        path.chmod(0o600)
        if owner != "root":
            os.chown(path, 0, 0)
            code, out, took = doctor(installed)
            found = line_of(out, f"[✗] {comp}: {what}:")
            report(f"{what} owned by root", found, took)
            assert f"{path} is owned by uid 0, not {owner}: the gateway cannot read it" in found
            assert f"chown {owner} {path}" in found
    finally:
        path.chmod(stat.S_IMODE(st.st_mode))
        os.chown(path, st.st_uid, st.st_gid)
    healthy_again(installed)


def _without(key):
    def change(text):
        k = json.loads(text)
        k["env"].pop(key)
        return json.dumps(k)

    return change


def _env(key, value):
    def change(text):
        k = json.loads(text)
        k["env"][key] = value
        return json.dumps(k)

    return change


def test_kernelspec_completeness(installed):
    L = installed.layout
    kj = L.kernel_dir / "kernel.json"
    name = L.a.kernels.name
    cases = [
        (
            _without("PYTHONSTARTUP"),
            "its env has no PYTHONSTARTUP: the kernel starts without `spark`",
            "kernelspecs step",
        ),
        (
            _env("PYSPARK_PYTHON", "/nonexistent/venv/bin/python"),
            "PYSPARK_PYTHON /nonexistent/venv/bin/python is missing",
            "the venv /nonexistent/venv is gone or broken",
        ),
        (
            _env("PYTHONPATH", str(L.state_dir)),
            "PYTHONPATH has no pyspark",
            "PYTHONPATH must name $SPARK_HOME/python",
        ),
        (
            _env("JAVA_HOME", "/usr/lib/jvm/nonexistent"),
            "JAVA_HOME=/usr/lib/jvm/nonexistent has no bin/java",
            "java step",
        ),
    ]
    for change, cause, fix in cases:
        with edited(kj, change):
            code, out, took = doctor(installed)
        found = line_of(out, f"[✗] kernels: {name}:")
        report(f"kernelspec: {cause}", found, took)
        assert cause in found and fix in found.split("fix:", 1)[1], found
        assert code == 1
    healthy_again(installed)


class _Imposter(BaseHTTPRequestHandler):
    """Something else on the gateway's port: every path 404, or 200 with a body that is no answer."""

    def do_GET(self):  # noqa: N802
        body = b'{"kernels": "none"}' if self.path == "/api/kernels" else b"not here"
        self.send_response(200 if self.path in ("/api", "/api/kernels") else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_unknown_is_never_green(installed):
    """A program on the gateway's address that answers, but not as the gateway: unknown, never ok."""
    a = load(installed.answers_path)
    server = HTTPServer(("127.0.0.1", 0), _Imposter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        broken = Layout(a.model_copy(update={"gateway": a.gateway.model_copy(update={"port": port})}))
        t0 = time.monotonic()
        found = checks.gateway.check(checks.Install(broken, timeout=2))
        took = time.monotonic() - t0
    finally:
        server.shutdown()
    for f in found:
        report("an imposter on the gateway port", f.line().replace("\n", " /"), took)
    by = {f.what: f for f in found}
    assert by["token required"].status == checks.UNKNOWN and "cannot tell" in by["token required"].detail
    assert by["version"].status == checks.UNKNOWN and "without a gateway version" in by["version"].detail
    assert not [f for f in found if f.status == checks.OK and f.what in ("token required", "version", "kernel listing")]
