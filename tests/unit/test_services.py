"""The supervised-process service manager with a real tiny HTTP service (no systemd here)."""

import os
import socket
import sys
import time

import pytest

from jeg_wizard.services import ProcessManager, ServiceSpec, render_unit, wait_http


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


@pytest.fixture
def spec(tmp_path):
    port = free_port()
    envf = tmp_path / "svc.env"
    envf.write_text("SECRET_TOKEN=tok-canary-123\n")
    envf.chmod(0o600)
    code = (
        "import http.server, os, sys; "
        "open(sys.argv[1], 'w').write(os.environ.get('SECRET_TOKEN', '')); "
        f"http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler).serve_forever()"
    )
    return ServiceSpec(
        "demo",
        "demo service",
        [sys.executable, "-c", code, str(tmp_path / "seen")],
        str(tmp_path / "demo.log"),
        env_file=str(envf),
        cwd=str(tmp_path),
        ready_url=f"http://127.0.0.1:{port}/",
        stop_grace=3,
    )


def test_start_wait_stop(spec, tmp_path):
    m = ProcessManager(tmp_path / "services")
    m.start(spec)
    try:
        wait_http(spec.ready_url, timeout=20, log=spec.log)
        pid = m.pid("demo")
        assert pid and m.running_digest("demo") == spec.digest()
        assert (tmp_path / "seen").read_text() == "tok-canary-123"  # env file reached the service
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
        assert b"tok-canary-123" not in cmdline
    finally:
        assert m.stop("demo", timeout=15)
    assert m.pid("demo") is None
    with pytest.raises(OSError):
        os.kill(pid, 0)


def test_supervisor_restarts_a_crashed_service(spec, tmp_path):
    m = ProcessManager(tmp_path / "services")
    m.start(spec)
    try:
        wait_http(spec.ready_url, timeout=20)
        first = m.pid("demo")
        os.kill(first, 9)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and m.pid("demo") in (None, first):
            time.sleep(0.2)
        assert m.pid("demo") not in (None, first)
        wait_http(spec.ready_url, timeout=20)
        assert "exited with -9" in open(spec.log).read()
    finally:
        m.stop("demo", timeout=15)


def test_changed_spec_has_another_digest(spec):
    other = ServiceSpec(**{**spec.__dict__, "argv": spec.argv + ["x"]})
    assert other.digest() != spec.digest()


def test_unit_keeps_secrets_out_of_execstart(spec):
    unit = render_unit(spec)
    assert f"EnvironmentFile={spec.env_file}" in unit and "tok-canary" not in unit
    assert "ExecStart=" in unit and "Restart=on-failure" in unit
