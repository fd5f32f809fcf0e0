"""Why a component is broken, on a temporary layout: a config compiled in a given interpreter, the last
run of a log, secret files' modes, a Spark kernelspec's completeness, and a smoke test that cannot reach
the gateway (one counted line, never a traceback)."""

from __future__ import annotations

import sys

from jeg_wizard import checks, doctor, health
from jeg_wizard.checks import accounts, kernels
from jeg_wizard.checks.processes import cause_lines
from jeg_wizard.services import config_error

from .test_checks import _port, layout  # noqa: F401 - the fixture


def test_config_error_names_the_line(tmp_path):
    good, broken = tmp_path / "good.py", tmp_path / "broken.py"
    good.write_text("c = 1\n")
    broken.write_text("c = 1\nc.x = (\n")
    assert config_error(sys.executable, good) == ""
    why = config_error(sys.executable, broken)
    assert "does not compile" in why and "SyntaxError" in why and "line 2" in why
    assert "is missing" in config_error(tmp_path / "no-venv" / "bin" / "python", good)


def test_cause_lines_read_the_last_run_only():
    log = (
        "--- 2026-11-30 10:00:00 supervisor: starting hub\n"
        "SyntaxError: old error\n"
        "--- 2026-11-30 10:00:01 supervisor: hub exited with 1\n"
        "--- 2026-11-30 10:05:00 supervisor: starting hub\n"
        "ModuleNotFoundError: No module named 'x'\n"
        "--- 2026-11-30 10:05:01 supervisor: hub exited with 1\n"
        "--- 2026-11-30 10:05:03 supervisor: starting hub\n"
        "[I 2026-11-30 10:05:04 JupyterHub] Starting JupyterHub\n"  # a try in progress has not said why yet
    )
    assert cause_lines(log) == ["ModuleNotFoundError: No module named 'x'"]


def test_the_cause_is_the_exception_not_the_proxys_noise_after_it():
    j = "2026-11-30T12:48:20+0000 jegw-bookworm "
    log = (  # the systemd tier's crash loop with 8081 held, as journalctl -o short-iso wrote it
        f"{j}systemd[1]: Started jeg-hub.service - JupyterHub.\n"
        f"{j}jupyterhub[7008]: [E 2026-11-30 12:48:20.071 JupyterHub app:3712] Failed to bind hub to http://127.0.0.1:8081/hub/\n"
        f'{j}jupyterhub[7008]:       File "/opt/jeg/hub/lib/python3.11/site-packages/tornado/netutil.py", line 181\n'
        f"{j}jupyterhub[7008]:     OSError: [Errno 98] Address already in use\n"
        f"{j}jupyterhub[7008]: 12:48:20.075 [ConfigProxy] error: 404 GET /hub/api\n"
        f"{j}jupyterhub[7008]: 12:48:23.654 [ConfigProxy] error: Failed to get custom error page: Error: read ECONNRESET\n"
    )
    found = cause_lines(log)
    assert found[-1].endswith("OSError: [Errno 98] Address already in use"), found
    assert "Failed to bind hub to http://127.0.0.1:8081/hub/" in found[0] and not any("ConfigProxy" in x for x in found)


def test_secret_file_mode_and_the_one_list(layout):  # noqa: F811
    site = checks.Install(layout)
    layout.gateway_token_file.chmod(0o640)
    found = accounts.secret_files(site, "gateway")
    assert found[0].status == checks.PROBLEM and "has mode 640: others can read it" in found[0].detail
    assert found[0].fix == f"chmod 600 {layout.gateway_token_file}"
    assert {w for _, w, _, _ in layout.secret_files} >= {"gateway token", "proxy token", "cookie secret"}


def test_spark_kernelspec_completeness(tmp_path):
    k = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "env": {}}
    found = dict(kernels.spec_findings(k, spark=True))
    assert "its env has no PYTHONSTARTUP: the kernel starts without `spark`" in found
    assert "it has no metadata.process_proxy.class_name: the gateway does not know how to launch it" in found
    k["env"] = {"PYSPARK_PYTHON": "/nonexistent/venv/bin/python", "PYTHONPATH": str(tmp_path)}
    found = dict(kernels.spec_findings(k, spark=True))
    assert found["PYSPARK_PYTHON /nonexistent/venv/bin/python is missing"].startswith("the venv /nonexistent/venv")
    assert any(p.startswith("PYTHONPATH has no pyspark") for p in found)
    assert any(p.startswith("PYTHONPATH has no py4j") for p in found)
    # a missing interpreter and a broken JAVA_HOME have different fixes
    k["env"]["JAVA_HOME"] = "/nonexistent/jvm"
    found = dict(kernels.spec_findings(k, spark=True))
    assert "java step" in found["JAVA_HOME=/nonexistent/jvm has no bin/java"]


def test_smoke_without_a_gateway_is_one_counted_line(layout, capsys):  # noqa: F811
    try:
        health.gateway_spark_job(f"http://127.0.0.1:{_port()}", "t", "k", "u", timeout=5)
    except health.HealthError as e:
        assert str(e).startswith("start request of 'k' failed after") and "no answer (ConnectError)" in str(e)
    else:
        raise AssertionError("no error")
    code = doctor.main(layout, timeout=1, smoke=True)
    out = capsys.readouterr().out
    assert "Traceback" not in out
    assert "[✗] spark: smoke: start request of" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("down:") and code == 2


def test_a_port_held_from_another_namespace_is_named():
    from jeg_wizard.checks.processes import Sockets

    s = Sockets.__new__(Sockets)  # one snapshot as a container sees it: the socket, not its process
    s.listening, s.owners = {8081: [("127.0.0.1", 111)], 8000: [("0.0.0.0", 222)]}, {222: 4242}
    assert s.held_unseen(8081, "127.0.0.1") and s.port_owner(8081, "127.0.0.1") is None
    assert not s.held_unseen(8081, "10.0.0.5")  # bound to another address: not in the way
    assert not s.held_unseen(8000) and s.port_owner(8000) == 4242
    assert not s.held_unseen(9999)
