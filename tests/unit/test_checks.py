"""The check modules on a temporary layout: config facts from the render context and the file compared
with a fresh render, secrets through Secrets, the tri-state result, and the JSON monitors read."""

from __future__ import annotations

import json
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from jeg_wizard import checks
from jeg_wizard.answers import Answers
from jeg_wizard.checks import configs
from jeg_wizard.checks.finding import Finding, overall, summary
from jeg_wizard.layout import Layout


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def layout(tmp_path):
    a = Answers.model_validate(
        {
            "system": {
                "prefix": str(tmp_path / "opt"),
                "state_dir": str(tmp_path / "state"),
                "log_dir": str(tmp_path / "log"),
            },
            "hub": {"config_dir": str(tmp_path / "etc"), "port": _port(), "hub_port": _port()},
            "gateway": {"port": _port()},
            "proxy": {"api_port": _port()},
            "kernels": {"dir": str(tmp_path / "kernels")},
            "environment": {"file": str(tmp_path / "environment")},
        }
    )
    L = Layout(a)
    L.config_dir.mkdir(parents=True)
    for which, path in (("hub", L.hub_config), ("gateway", L.gateway_config)):
        path.write_text(configs.fresh(L, which))
    L.secrets_dir.mkdir(parents=True)
    L.gateway_token_file.write_text("s3cret-token-value\n")
    L.gateway_token_file.chmod(0o600)
    return L


def test_a_fresh_install_config_has_no_drift(layout):
    site = checks.Install(layout)
    assert configs.file_finding(site, "hub", "hub", "hub_config") == []
    assert configs.file_finding(site, "gateway", "gateway", "gateway") == []
    [f] = checks.user_servers.from_config(site)
    assert f.status == checks.OK and "KERNEL_USERNAME" in f.detail


def test_config_values_are_read_as_python(layout):
    cfg = configs.Config(layout.hub_config.read_text())
    env = cfg.get("Spawner.environment")
    assert env["JUPYTER_GATEWAY_URL"] == layout.gateway_url
    assert isinstance(env["KERNEL_USERNAME"], configs.Code) and isinstance(
        env["JUPYTER_GATEWAY_AUTH_TOKEN"], configs.Code
    )
    assert cfg.get("Authenticator.allowed_users") == ["hubadmin"]
    gw = configs.Config(layout.gateway_config.read_text())
    assert "root" in gw.get("EnterpriseGatewayApp.unauthorized_users")  # the literal part of set([...]) | _members(...)


def test_an_edited_hub_config_is_named_with_its_consequence(layout):
    text = layout.hub_config.read_text()
    lines = [ln for ln in text.splitlines(keepends=True) if '"KERNEL_USERNAME"' not in ln and "allowed_users" not in ln]
    layout.hub_config.write_text(re.sub(r'("JUPYTER_GATEWAY_REQUEST_TIMEOUT": )"[^"]*"', r'\1"30.0"', "".join(lines)))
    site = checks.Install(layout)
    found = checks.user_servers.from_config(site) + checks.hub.login(site)
    found += configs.file_finding(site, "hub", "hub", "hub_config")
    text = "\n".join(f.line() for f in found)
    assert "the hub config does not send KERNEL_USERNAME" in text
    assert "request timeout 30s is not above the kernel launch timeout" in text
    assert "no allowed_users / allowed_groups / allow_all" in text
    drift = [f for f in found if f.what == "config file"]
    assert drift and drift[0].warning and "Spawner.environment differs" in drift[0].detail
    assert "Authenticator.allowed_users is missing" in drift[0].detail


def test_admin_refused_by_the_gateway_config(layout):
    p = layout.gateway_config
    p.write_text(p.read_text().replace("unauthorized_users = set([", 'unauthorized_users = set(["hubadmin", '))
    site = checks.Install(layout)
    found = checks.gateway.refused(site, site.config("gateway"))
    assert any("refuses kernels for the hub admin 'hubadmin'" in f.detail for f in found)


def test_gateway_token_only_through_secrets(layout, monkeypatch):
    site = checks.Install(layout)
    assert checks.gateway.token(site) == ("s3cret-token-value", None)
    layout.gateway_token_file.chmod(0o644)
    value, f = checks.gateway.token(checks.Install(layout))
    assert value is None and f.status == checks.PROBLEM and "chmod 600" in f.detail + f.fix
    layout.gateway_token_file.unlink()
    value, f = checks.gateway.token(checks.Install(layout))
    assert value is None and "no token in" in f.detail
    assert not layout.gateway_token_file.exists()  # a check never makes one up


class _Gateway(BaseHTTPRequestHandler):
    """Answers like JEG: 401 without the token, the version with it; or 404 for everything (code=404)."""

    code = 401

    def do_GET(self):
        token = self.headers.get("Authorization") == "token s3cret-token-value"
        if self.code == 404:
            body, status = b"{}", 404
        elif not token:
            body, status = b'{"message": "Forbidden"}', 401
        elif self.path == "/api":
            body, status = (
                json.dumps({"gateway_version": "3.3.0", "version": "1.24.0", "echo": "s3cret-token-value"}).encode(),
                200,
            )
        else:
            body, status = b"{}", 500
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def _serve(layout, code):
    handler = type("H", (_Gateway,), {"code": code})
    srv = HTTPServer(("127.0.0.1", layout.a.gateway.port), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def test_quick_gateway_check_and_unknown_is_never_green(layout):
    srv = _serve(layout, 401)
    try:
        found = checks.quick(layout, "gateway", timeout=2)
    finally:
        srv.shutdown()
        srv.server_close()
    assert [(f.what, f.status) for f in found] == [("token required", "ok"), ("version", "ok")]
    assert "JEG 3.3.0" in found[1].detail

    srv = _serve(layout, 404)  # something else answers on the gateway's port
    try:
        found = checks.quick(layout, "gateway", timeout=2)
    finally:
        srv.shutdown()
        srv.server_close()
    assert found[0].status == checks.UNKNOWN and "cannot tell" in found[0].detail
    assert all(f.status != checks.OK for f in found)
    assert overall(found)[1] == 1 and "unknown" in summary(found)


def test_down_when_nothing_answers(layout):
    found = checks.quick(layout, "gateway", timeout=1)
    assert found[0].what == "answers" and found[0].level == "fail"
    assert overall(found) == ("down", 2)


def test_secrets_are_masked_in_findings(layout, monkeypatch):
    def leaky(site):
        site.secrets.gateway_token(generate=False)
        return [Finding("gateway", "x", checks.PROBLEM, "got s3cret-token-value back", "echo s3cret-token-value")]

    [f] = checks.run(layout, 1, checks={"gateway": leaky})
    assert "s3cret-token-value" not in f.detail + f.fix


def test_a_hung_check_is_unknown_not_a_hang(layout):
    gate = threading.Event()
    found = checks.run(layout, 1, deadline=0.2, checks={"gateway": lambda s: gate.wait(5) and []})
    gate.set()
    assert found[0].status == checks.UNKNOWN and "no answer within 0.2s" in found[0].detail
    assert found[0].level == "fail"  # the JSON's old "status": as before


def test_json_keeps_the_old_keys_and_adds_the_result():
    found = [
        Finding("services", "gateway", checks.OK, "running"),
        Finding("network", "proxy variables", checks.PROBLEM, "no NO_PROXY", warning=True),
        Finding("gateway", "kernel listing", checks.UNKNOWN, "GET /api/kernels answers HTTP 500"),
    ]
    data = json.loads(checks.as_json(found))
    assert data["state"] == "degraded"
    assert [(c["status"], c["result"]) for c in data["checks"]] == [
        ("ok", "ok"),
        ("warn", "problem"),
        ("fail", "unknown"),
    ]
    assert set(data["checks"][0]) == {"component", "check", "status", "detail", "fix", "log", "result"}
    assert [f.line()[:3] for f in found] == ["[✓]", "[!]", "[?]"]
    assert checks.worst(found) == "unknown" and checks.worst(found[:2]) == "warning"


def test_spark_master_parsed_in_one_place():
    L = Layout(Answers.model_validate({"spark": {"master": "spark://127.0.0.1:7077"}}))
    assert L.spark_master == ("127.0.0.1", 7077)
    assert L.spark_master_webui == f"http://127.0.0.1:{L.a.spark.master_webui_port}"
    assert Layout(Answers()).spark_master is None and checks.spark.master(checks.Install(Layout(Answers()))) == []


def test_every_port_of_ours_includes_a_local_spark_master_and_worker():
    a = Answers.model_validate({"spark": {"master": "spark://localhost:7177"}})
    ports = Layout(a).ports
    assert ports["spark-master"] == [
        ("spark.master (port)", "127.0.0.1", 7177),
        ("spark.master_webui_port", "127.0.0.1", a.spark.master_webui_port),
    ]
    assert ports["spark-worker"] == [("spark.worker_webui_port", "127.0.0.1", a.spark.worker_webui_port)]
    # a master on another host is not ours to start or check here; local[*] has none
    remote = Answers.model_validate({"spark": {"master": "spark://192.0.2.7:7077"}})
    assert set(Layout(remote).ports) == set(Layout(Answers()).ports) == {"gateway", "hub"}


def test_kernelspec_paths(layout, tmp_path):
    spec = tmp_path / "kernels" / "k"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({"argv": ["/nonexistent/python"], "env": {"JAVA_HOME": "/nope"}}))
    [f, archive] = checks.kernels.check(checks.Install(layout))
    assert archive.what == "jvm archive" and archive.level == "warn"  # nothing installed: no archive either
    assert f.status == checks.PROBLEM and "its program /nonexistent/python is missing" in f.detail
    assert "JAVA_HOME=/nope has no bin/java" in f.detail


def test_checks_do_not_import_textual():
    import subprocess
    import sys

    code = "import sys, jeg_wizard.checks, jeg_wizard.doctor; print('textual' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "False"


def test_every_check_runs_without_the_install_actions(layout, tmp_path):
    """status --json answers in a fraction of a second: the checks must not pull in the install's actions
    (importing jeg_wizard.actions costs ~0.2 s here)."""
    import subprocess
    import sys

    spec = Path(layout.a.kernels.dir) / "k" / "kernel.json"  # past the early return of the kernels' check
    spec.parent.mkdir(parents=True)
    spec.write_text("{}")
    saved = tmp_path / "answers.json"
    saved.write_text(layout.a.model_dump_json())
    code = (
        "import sys, json; from jeg_wizard import checks; from jeg_wizard.answers import Answers; "
        "from jeg_wizard.layout import Layout; "
        f"checks.run(Layout(Answers.model_validate_json(open({str(saved)!r}).read())), timeout=0.5); "
        "print(sorted(m for m in sys.modules if m.startswith(('jeg_wizard.actions', 'jeg_wizard.steps'))))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stdout


def test_a_stopped_service_and_the_program_on_its_port(layout):
    import os

    found = checks.services.check(checks.Install(layout))
    assert [(f.what, f.detail) for f in found] == [("gateway", "not running"), ("hub", "not running")]
    assert found[0].fix == "jeg-wizard services start gateway" and overall(found)[0] == "down"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", layout.a.gateway.port))
        squatter.listen()
        gw = checks.services.check(checks.Install(layout))[0]
    assert f"port {layout.a.gateway.port} (gateway.port) is held by pid {os.getpid()}" in gw.detail
