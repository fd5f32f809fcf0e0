"""On the real install: a healthy one shows no warning; each injected fault is named with its cause.

Every test puts back what it broke, so the next one starts from a healthy install.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import time
from pathlib import Path

import pytest

from jeg_wizard import checks
from jeg_wizard.answers import load
from jeg_wizard.checks.processes import Sockets
from jeg_wizard.layout import Layout

from .conftest import edited, spawn, wizard

pytestmark = pytest.mark.e2e


def doctor(installed, *extra):
    r = wizard("doctor", "--answers", str(installed.answers_path), *extra, timeout=120)
    return r.returncode, r.stdout + r.stderr


def problems(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("[!]", "[✗]", "[?]"))]


def restart(installed, *names):
    r = wizard("services", "restart", *names, "--state-dir", str(installed.layout.state_dir), timeout=200)
    assert r.returncode == 0, r.stdout + r.stderr


def test_healthy_install_has_no_warning(installed):
    t0 = time.monotonic()
    code, out = doctor(installed)
    took = time.monotonic() - t0
    t0 = time.monotonic()
    checks.run(installed.layout)
    print(
        f"doctor on a healthy install: {took:.2f}s wall (a new process); the checks in-process: "
        f"{time.monotonic() - t0:.2f}s"
    )
    assert code == 0, out
    assert problems(out) == []
    assert "[✓] gateway: kernelspecs: spark_python_local" in out
    assert "healthy:" in out


def test_status_json_for_monitoring(installed):
    r = wizard("status", "--json", "--answers", str(installed.answers_path))
    data = json.loads(r.stdout)
    assert r.returncode == 0 and data["state"] == "healthy"
    assert {c["component"] for c in data["checks"]} >= {
        "services",
        "gateway",
        "hub",
        "proxy",
        "kernels",
        "user servers",
    }
    # the keys monitors read since the first release, and the tri-state result
    assert all({"component", "check", "status", "detail", "fix", "log", "result"} <= set(c) for c in data["checks"])
    assert {c["status"] for c in data["checks"]} == {"ok"} == {c["result"] for c in data["checks"]}


def test_run_script_not_executable(installed):
    L = installed.layout
    spec = Path(L.a.kernels.dir) / "broken_runsh"
    (spec / "bin").mkdir(parents=True)
    (spec / "bin" / "run.sh").write_text("#!/bin/sh\nexec true\n")
    (spec / "bin" / "run.sh").chmod(0o644)
    (spec / "kernel.json").write_text(
        json.dumps(
            {"display_name": "x", "language": "python", "argv": [str(spec / "bin" / "run.sh"), "{connection_file}"]}
        )
    )
    try:
        code, out = doctor(installed)
        assert code == 1
        assert f"kernels: broken_runsh: its program {spec}/bin/run.sh is not executable (chmod +x" in out
    finally:
        subprocess.run(["rm", "-rf", str(spec)], check=True)


def test_broken_java_home_in_kernelspec(installed):
    kj = installed.layout.kernel_dir / "kernel.json"
    with edited(kj, lambda t: t.replace(str(installed.layout.java_home), "/usr/lib/jvm/nonexistent")):
        code, out = doctor(installed)
    assert code == 1
    assert "JAVA_HOME=/usr/lib/jvm/nonexistent has no bin/java" in out


def test_gateway_stopped_then_port_taken_by_another_program(installed):
    L = installed.layout
    sd = str(L.state_dir)
    assert wizard("services", "stop", "gateway", "--state-dir", sd).returncode == 0
    try:
        code, out = doctor(installed)
        assert code == 2
        assert "[✗] services: gateway: not running" in out and "fix: jeg-wizard services start gateway" in out
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind((L.a.gateway.ip, L.a.gateway.port))
            squatter.listen()
            code, out = doctor(installed)
            assert code == 2
            assert f"not running, and port {L.a.gateway.port} (gateway.port) is held by pid {os.getpid()}" in out
    finally:
        r = wizard("services", "start", "gateway", "--state-dir", sd, timeout=200)
        assert r.returncode == 0, r.stdout + r.stderr


def test_token_changed_on_one_side(installed):
    spawn(installed)  # a running user server, whose token is checked too
    tf = installed.layout.gateway_token_file
    with edited(tf, lambda t: secrets.token_hex(32) + "\n"):
        code, out = doctor(installed)
    assert code == 1
    assert "the gateway refuses the token in" in out and "the running gateway uses another token" in out
    # the running user server still carries the token the gateway has: that part stays consistent
    assert "sends a token other than" in out


def test_kernel_username_dropped(installed):
    cfg = installed.layout.hub_config
    with edited(cfg, lambda t: re.sub(r'^\s*"KERNEL_USERNAME".*\n', "", t, flags=re.M)):
        code, out = doctor(installed)
    assert code == 1
    assert (
        "the hub config does not send KERNEL_USERNAME: the gateway takes its own user (root) and refuses the kernel (403)"
        in out
    )


def test_request_timeout_not_above_launch_timeout(installed):
    cfg = installed.layout.hub_config
    with edited(cfg, lambda t: re.sub(r'("JUPYTER_GATEWAY_REQUEST_TIMEOUT":\s*)"[^"]*"', r'\1"30.0"', t)):
        code, out = doctor(installed)
    assert "request timeout 30s is not above the kernel launch timeout 120s" in out


def test_nobody_allowed_to_log_in(installed):
    cfg = installed.layout.hub_config
    with edited(cfg, lambda t: re.sub(r"^c\.Authenticator\.allowed_users.*\n", "", t, flags=re.M)):
        code, out = doctor(installed)
    assert "no allowed_users / allowed_groups / allow_all: JupyterHub >= 5 lets only admins log in" in out


def test_admin_refused_by_the_gateway(installed):
    cfg = installed.layout.gateway_config
    admin = installed.layout.a.users.admin
    with edited(cfg, lambda t: t.replace("unauthorized_users = set([", f'unauthorized_users = set(["{admin}", ')):
        code, out = doctor(installed)
    assert f"the gateway refuses kernels for the hub admin '{admin}'" in out


def test_loose_cookie_secret(installed):
    secret = installed.layout.cookie_secret_file
    secret.chmod(0o644)
    try:
        code, out = doctor(installed)
    finally:
        secret.chmod(0o600)
    assert code == 1
    assert f"{secret} has mode 644" in out and f"fix: chmod 600 {secret}" in out


def test_web_proxy_without_no_proxy(installed):
    envf = Path(installed.layout.a.environment.file)
    with edited(envf, lambda t: t + "http_proxy=http://127.0.0.1:3128\n"):
        code, out = doctor(installed)
    assert "[!] network: proxy variables: http_proxy is set but NO_PROXY lacks" in out


def test_configured_ip_not_on_any_interface(installed):
    a = load(installed.answers_path)
    broken = a.model_copy(update={"gateway": a.gateway.model_copy(update={"ip": "192.0.2.123"})})
    findings = checks.network.check(checks.Install(Layout(broken), timeout=1))
    assert any(
        "gateway.ip" == f.what and "192.0.2.123 is not an address of any interface" in f.detail for f in findings
    )


def test_kernel_listing_disabled(installed):
    cfg = installed.layout.gateway_config
    with edited(cfg, lambda t: t.replace("list_kernels = True", "list_kernels = False")):
        restart(installed, "gateway")
        code, out = doctor(installed)
    restart(installed, "gateway")
    assert "GET /api/kernels answers 403: JupyterLab's polling fails" in out


def test_proxy_killed(installed):
    L = installed.layout
    pid = Sockets().port_owner(L.a.proxy.api_port)
    assert pid
    os.kill(pid, 9)
    try:
        # in-process and at once: the hub restarts a dead proxy within seconds by itself
        findings = checks.proxy.check(checks.Install(installed.layout, timeout=2))
        assert any(f.status == checks.PROBLEM and "the proxy is down" in f.detail for f in findings), findings
    finally:
        restart(installed, "hub")
    code, out = doctor(installed)
    assert "[✓] proxy: API:" in out


def test_hung_endpoint_does_not_hang_the_doctor(installed, tmp_path):
    """A listener that accepts and never answers, standing in for the gateway."""
    a = load(installed.answers_path)
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen()
        port = hung.getsockname()[1]
        broken = a.model_copy(update={"gateway": a.gateway.model_copy(update={"port": port})})
        t0 = time.monotonic()
        findings = checks.run(Layout(broken), timeout=1)
        took = time.monotonic() - t0
    assert any(f.component == "gateway" and f.level == "fail" for f in findings)
    print(f"doctor with a hung gateway: {took:.2f}s (probe timeout 1s)")


def test_smoke_runs_a_job_on_the_gateway(installed):
    code, out = doctor(installed, "--smoke")
    assert "[✓] spark: smoke: spark.range(1000).count() = 1000 on the gateway" in out, out
    m = re.search(
        r"start request ([\d.]+)s, launch ([\d.]+)s, ready ([\d.]+)s, job ([\d.]+)s, delete ([\d.]+)s; total ([\d.]+)s",
        out,
    )
    assert m, out
    *phases, total = map(float, m.groups())
    assert abs(sum(phases) - total) <= 0.1 * len(phases), out  # each rounded to 0.1 s
    assert code == 0 and "healthy:" in out  # counted in the summary
