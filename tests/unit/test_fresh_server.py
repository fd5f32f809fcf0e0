"""What a first run on a fresh systemd server needed (issue 19): units, host name, early exits, user
servers that outlive the hub, no system pip, an honest plan and final address."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from jeg_wizard import distro, layout, preflight, services
from jeg_wizard.actions import PipTarget
from jeg_wizard.answers import Answers
from jeg_wizard.layout import Layout


def ctx_for(**sections) -> SimpleNamespace:
    a = Answers.model_validate(sections)
    return SimpleNamespace(answers=a, layout=Layout(a))


def unit_lines(spec) -> list[str]:
    return services.render_unit(spec).splitlines()


def test_gateway_unit_is_sandboxed_to_its_home():
    from jeg_wizard.steps import gateway

    ctx = ctx_for()
    lines = unit_lines(gateway.service_spec(ctx))
    for want in (
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        f"ReadWritePaths={ctx.layout.gateway_home}",
        "CapabilityBoundingSet=",
        "KillMode=control-group",
        "Wants=network-online.target",
        "After=network-online.target",
        "User=jeg-gateway",
    ):
        assert want in lines, want
    assert not [x for x in lines if x.startswith("Standard")], "output goes to the journal"


def test_gateway_unit_with_impersonation_keeps_homes_writable():
    from jeg_wizard.steps import gateway

    lines = unit_lines(gateway.service_spec(ctx_for(gateway={"impersonation": True})))
    assert "ProtectSystem=full" in lines and "NoNewPrivileges=yes" in lines
    assert not [x for x in lines if x.startswith(("ProtectHome", "CapabilityBoundingSet", "ReadWritePaths"))]


def test_hub_unit_keeps_user_servers_through_a_restart():
    from jeg_wizard.steps import services as step

    spec = step.hub_spec(ctx_for())
    lines = unit_lines(spec)
    assert "KillMode=process" in lines and "ProtectSystem=full" in lines and "NoNewPrivileges=yes" in lines
    assert not [x for x in lines if x.startswith(("User=", "ProtectHome"))], "PAM and spawning need root and homes"
    assert spec.children.endswith("/bin/jupyterhub-singleuser")


def test_hub_config_does_not_stop_servers_on_exit(tmp_path):
    from jeg_wizard import render

    text = render.render("jupyterhub_config.py.j2", render.context(Layout(Answers())))
    assert "c.JupyterHub.cleanup_servers = False" in text


def test_stop_children_stops_only_that_program(tmp_path):
    prog = tmp_path / "jupyterhub-singleuser"
    prog.write_text("import time\ntime.sleep(60)\n")
    other = tmp_path / "other"
    other.write_text("import time\ntime.sleep(60)\n")
    ours = subprocess.Popen([sys.executable, str(prog)])
    theirs = subprocess.Popen([sys.executable, str(other)])
    try:
        time.sleep(0.3)
        assert services.stop_children(str(prog), grace=5) == [ours.pid]
        assert ours.wait(timeout=5) is not None
        assert theirs.poll() is None
    finally:
        theirs.kill()
        ours.kill()
        theirs.wait()


def test_wait_http_says_the_process_died_at_once(tmp_path):
    log = tmp_path / "svc.log"
    log.write_text("starting\nFATAL: cannot resolve my own name\n")
    port = _free_port()
    pids = iter([1234, 1234, None])
    t0 = time.monotonic()
    with pytest.raises(RuntimeError) as e:
        services.wait_http(f"http://127.0.0.1:{port}/", timeout=90, log=str(log), pid=lambda: next(pids, None))
    assert time.monotonic() - t0 < 10
    msg = str(e.value)
    assert "exited" in msg and "did not answer within" not in msg and "cannot resolve my own name" in msg


def test_wait_http_names_a_restart_by_systemd():
    port = _free_port()
    pids = iter([10, 10, 11])
    with pytest.raises(RuntimeError, match=r"exited and was restarted \(pid 10, now 11\)"):
        services.wait_http(f"http://127.0.0.1:{port}/", timeout=90, pid=lambda: next(pids, 11))


def test_unresolvable_host_name_is_refused_before_any_change(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "no-such-host.invalid")
    (problem,) = preflight.hostname_problems(Answers())
    assert problem.startswith("hub.ip:") and "no-such-host.invalid" in problem and "/etc/hosts" in problem
    concrete = Answers.model_validate({"hub": {"ip": "127.0.0.1"}})
    assert preflight.hostname_problems(concrete) == []


def test_host_name_on_no_interface_is_refused(monkeypatch):
    monkeypatch.setattr(socket, "gethostname", lambda: "elsewhere")
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(0, 0, 0, "", ("192.0.2.123", 0))])
    (problem,) = preflight.hostname_problems(Answers())
    assert "192.0.2.123" in problem and "no interface" in problem


def test_spark_from_pypi_needs_no_system_pip():
    argv = PipTarget(layout.Path("/opt/spark-x"), "pyspark==4.3.0", "pyspark/bin/spark-submit").argv(
        SimpleNamespace(bundle=None)
    )
    assert argv[:3] == [sys.executable, "-m", "pip"] and "/usr/bin/python3" not in argv


def test_final_address_is_reachable_when_listening_everywhere(monkeypatch):
    monkeypatch.setattr(layout, "_reachable_name", lambda: None)
    monkeypatch.setattr(layout, "interface_addresses", lambda: ["192.0.2.7"])
    assert Layout(Answers()).public_hub_url == "http://192.0.2.7:8000"
    assert Layout(Answers()).hub_url == "http://127.0.0.1:8000"  # the wizard's own checks stay on loopback
    local = Answers.model_validate({"hub": {"ip": "127.0.0.1"}})
    assert Layout(local).public_hub_url == "http://127.0.0.1:8000"


@pytest.mark.parametrize(
    "os_id,version,java",
    [
        ("debian", "12", 17),
        ("debian", "13", 21),
        ("ubuntu", "24.04", 17),
        ("ubuntu", "22.04", 17),
        ("fedora", "40", 17),
    ],
)
def test_default_java_is_one_the_distribution_ships(os_id, version, java):
    dist = distro.Distro(os_id, version, f"{os_id} {version}")
    assert distro.default_java(dist) == java
    if dist.apt_java:
        assert distro.spark_java_problems("4.3.0", java, dist) == []


def test_plan_with_an_unset_password_variable_says_so(tmp_path):
    answers = tmp_path / "a.toml"
    answers.write_text(
        '[users]\nadmin_password_env = "JEGW_SURELY_UNSET"\n[services]\nmanager = "process"\n'
        f'[system]\nstate_dir = "{tmp_path}/state"\nlog_dir = "{tmp_path}/log"\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "JEGW_SURELY_UNSET"}
    r = subprocess.run(
        [sys.executable, "-m", "jeg_wizard", "plan", str(answers)], capture_output=True, text=True, env=env, timeout=300
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    assert "JEGW_SURELY_UNSET is not set" in r.stdout
    assert f"on {distro.detect().pretty}:" in r.stdout and "Java " in r.stdout
    assert not (tmp_path / "state").exists(), "plan changes nothing"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_crash_loop_cause_is_the_service_own_error_line():
    from jeg_wizard.checks.processes import cause_lines

    journal = """2026-11-30T06:40:14+00:00 h jupyterhub[9]: [I 06:40:14 JupyterHub app:3000] Starting JupyterHub
2026-11-30T06:40:14+00:00 h jupyterhub[9]:     sock.bind(sockaddr)
2026-11-30T06:40:14+00:00 h jupyterhub[9]: OSError: [Errno 98] Address already in use
2026-11-30T06:40:15+00:00 h systemd[1]: jeg-hub.service: Main process exited, code=exited, status=1/FAILURE
2026-11-30T06:40:15+00:00 h systemd[1]: jeg-hub.service: Failed with result 'exit-code'.
2026-11-30T06:40:15+00:00 h systemd[1]: jeg-hub.service: This usually indicates unclean termination of a previous run"""
    assert cause_lines(journal)[-1].endswith("OSError: [Errno 98] Address already in use")
    assert not [x for x in cause_lines(journal) if "systemd[1]" in x]
    assert cause_lines("--- 2026 supervisor: starting hub\nonly line\n") == ["only line"]


def test_spark_default_follows_the_python_it_runs_on(tmp_path):
    """pyspark 4.3.0 wants Python >= 3.11: Ubuntu 22.04 (3.10) gets 4.2.1, and 4.3.0 there is refused up front."""
    assert distro.default_spark((3, 10)) == "4.2.1" and distro.default_spark((3, 12)) == "4.3.0"
    py = tmp_path / "python3"
    py.write_text("#!/bin/sh\necho 3.10.12\n")
    py.chmod(0o755)
    a = Answers.model_validate({"system": {"python": str(py)}, "spark": {"version": "4.3.0"}})
    (msg,) = preflight.python_problems(a)
    assert msg.startswith("spark.version: Spark 4.3.0") and "3.11" in msg and '"4.2.1"' in msg
    ok = Answers.model_validate({"system": {"python": str(py)}, "spark": {"version": "4.2.1"}})
    assert preflight.python_problems(ok) == []


def test_a_pyspark_release_the_index_lacks_is_refused(monkeypatch):
    index = "pyspark (4.3.0)\nAvailable versions: 4.3.0, 4.2.1, 4.2.0\n"
    calls = []

    def fake_run(argv, **kw):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, index, "")

    monkeypatch.setattr(subprocess, "run", fake_run)
    missing = Answers.model_validate({"spark": {"version": "4.2.9"}})
    (msg,) = preflight.pypi_problems(missing, (3, 11))
    assert msg.startswith("spark.version: pyspark 4.2.9 is not on the package index for Python 3.11") and "4.2.1" in msg
    assert calls[0][calls[0].index("--python-version") + 1] == "3.11"
    assert preflight.pypi_problems(Answers.model_validate({"spark": {"version": "4.2.1"}}), (3, 11)) == []
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: subprocess.CompletedProcess(argv, 1, "", "offline"))
    assert preflight.pypi_problems(missing, (3, 11)) == [], "no answer from the index is no refusal"


def test_a_node_too_old_for_the_proxy_is_refused_with_what_to_do(monkeypatch):
    jammy = distro.Distro("ubuntu", "22.04", "Ubuntu 22.04.5 LTS")
    monkeypatch.setattr(distro, "detect", lambda *a: jammy)
    monkeypatch.setattr(distro, "node_major", lambda: None)
    (msg,) = preflight.node_problems()
    assert msg.startswith("proxy.version: node 12 (Ubuntu 22.04.5 LTS's nodejs package)") and "node 18 or newer" in msg
    monkeypatch.setattr(distro, "node_major", lambda: 20)  # a newer node installed first: fine
    assert preflight.node_problems() == []
    monkeypatch.setattr(distro, "detect", lambda *a: distro.Distro("debian", "12", "Debian 12"))
    monkeypatch.setattr(distro, "node_major", lambda: None)
    assert preflight.node_problems() == []  # Debian 12's nodejs 18


def test_a_host_with_only_loopback_is_refused_before_the_gateway_crashes(monkeypatch):
    monkeypatch.setattr(layout, "interface_addresses", lambda: [])
    (problem,) = preflight.interface_problems()
    assert "no IPv4 address but loopback" in problem and "ip link add jeg0 type dummy" in problem
    monkeypatch.setattr(layout, "interface_addresses", lambda: ["10.231.9.2"])
    assert preflight.interface_problems() == []
