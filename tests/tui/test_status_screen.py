"""The status screen: snapshots healthy and failing (findings given, so the pictures are stable),
and pilot tests of its keys and of polls never overlapping."""

import threading

import pytest

from jeg_wizard.answers import Answers
from jeg_wizard.checks import OK, PROBLEM, Finding
from jeg_wizard.layout import Layout
from jeg_wizard.tui.status import ComponentPanel, StatusApp

HEALTHY = [
    Finding("services", "gateway", OK, "running, pid 4242, up 3m, port 8888"),
    Finding("services", "hub", OK, "running, pid 4250, up 3m, port 8081"),
    Finding("gateway", "token required", OK, "HTTP 401 without the token"),
    Finding("gateway", "version", OK, "JEG 3.3.0 (jupyter_server 1.24.0)"),
    Finding("gateway", "kernelspecs", OK, "spark_python_local"),
    Finding("hub", "public URL", OK, "JupyterHub 6.1.1 at http://127.0.0.1:8000"),
    Finding("hub", "cookie secret", OK, "mode 600"),
    Finding("proxy", "API", OK, "2 routes: /, /user/hubadmin/"),
    Finding(
        "user servers",
        "gateway settings",
        OK,
        "the hub config: gateway URL, token, KERNEL_USERNAME and timeouts in place",
    ),
    Finding("kernels", "spark_python_local", OK, "program, SPARK_HOME, JAVA_HOME, python paths exist"),
    Finding("network", "addresses", OK, "configured addresses exist; no web proxy in the way"),
]
BROKEN = [
    Finding(
        "services",
        "gateway",
        PROBLEM,
        "not running, and port 8888 (gateway.port) is held by pid 999 (nc -l 8888)",
        "stop that process, then: jeg-wizard services start gateway",
        "/var/log/jeg-wizard/gateway.log",
    ),
    Finding("services", "hub", OK, "running, pid 4250, up 3m, port 8081"),
    Finding(
        "gateway",
        "answers",
        PROBLEM,
        "http://127.0.0.1:8888 does not answer (ConnectError)",
        "jeg-wizard services restart gateway",
    ),
    Finding(
        "hub",
        "cookie secret",
        PROBLEM,
        "/var/lib/jeg-wizard/hub/jupyterhub_cookie_secret has mode 644: others can forge login cookies",
        "chmod 600 /var/lib/jeg-wizard/hub/jupyterhub_cookie_secret",
    ),
    Finding("proxy", "API", OK, "1 routes: /"),
    Finding(
        "user servers",
        "kernel user",
        PROBLEM,
        "the hub config does not send KERNEL_USERNAME",
        "add KERNEL_USERNAME to c.Spawner.environment",
    ),
    Finding(
        "kernels", "spark_python_local", PROBLEM, "JAVA_HOME=/usr/lib/jvm/nope has no bin/java", "fix the kernelspec"
    ),
    Finding(
        "network",
        "proxy variables",
        PROBLEM,
        "http_proxy is set but NO_PROXY lacks 127.0.0.1",
        "add NO_PROXY=127.0.0.1",
        warning=True,
    ),
]


def fixed(findings, gate=None):
    def check():
        if gate:
            gate.wait(5)
        return list(findings)

    return check


def app_with(findings, **kw):
    return StatusApp(Layout(Answers()), check=fixed(findings), interval=0, clock=lambda secs: "checked 12:00:00", **kw)


async def settle(pilot):
    for _ in range(20):
        await pilot.pause(0.05)
        if pilot.app.polls:
            break


def test_status_healthy_snapshot(snap_compare):
    assert snap_compare(app_with(HEALTHY), terminal_size=(100, 34), run_before=settle)


def test_status_failing_snapshot(snap_compare):
    assert snap_compare(app_with(BROKEN), terminal_size=(100, 34), run_before=settle)


@pytest.mark.anyio
async def test_panels_summary_and_log_key(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text("".join(f"line {i}\n" for i in range(150)) + "OSError: [Errno 98] Address already in use\n")
    findings = [Finding("services", "gateway", PROBLEM, "not running", "jeg-wizard services start gateway", str(log))]
    app = app_with(findings + HEALTHY[1:])
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        panel = app.query_one("#panel-services", ComponentPanel)
        assert panel.has_class("panel-problem") and panel.border_subtitle == "problem"
        assert app.query_one("#panel-gateway", ComponentPanel).has_class("panel-ok")
        summary = str(app.query_one("#summary").render())
        assert "down" in summary and "0 warnings, 1 problem " in summary
        await pilot.press("l")
        tail = app.query_one("#tail")
        assert tail.has_class("shown") and tail.border_title == str(log)
        assert tail.lines[-1] == "OSError: [Errno 98] Address already in use" and len(tail.lines) == 100


@pytest.mark.anyio
async def test_polls_never_overlap():
    gate = threading.Event()
    calls = []

    def check():
        calls.append(1)
        return fixed(HEALTHY, gate)()

    app = StatusApp(Layout(Answers()), check=check, interval=0.05, clock=lambda s: "")
    async with app.run_test() as pilot:
        await pilot.pause(0.1)
        for _ in range(5):
            await pilot.press("r")  # refresh while a poll hangs: ignored
        await pilot.pause(0.2)
        assert len(calls) == 1 and app.polls == 0
        gate.set()
        for _ in range(40):
            await pilot.pause(0.05)
            if app.polls >= 3:
                break
        assert app.polls >= 3 and len(calls) == app.polls + (1 if app.in_flight else 0)


@pytest.mark.anyio
async def test_a_hub_host_of_a_plain_http_site_says_so_and_shows_its_part():
    site = Answers.model_validate(
        {"site": {"gateway_host": "10.231.0.1", "hub_host": "10.231.0.2", "plain_http": True}}
    )
    app = StatusApp(Layout(site, "hub"), check=fixed(HEALTHY), interval=0, clock=lambda s: "")
    async with app.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        warning = str(app.query_one("#site-warning").render())
        assert "site.plain_http = true: the hub host (10.231.0.2) talks to the gateway host (10.231.0.1)" in warning
        panels = [p.component for p in app.query(ComponentPanel)]
        assert panels == ["services", "gateway", "hub", "proxy", "user servers", "network"]
    one_host = app_with(HEALTHY)
    async with one_host.run_test(size=(100, 34)) as pilot:
        await settle(pilot)
        assert not one_host.query("#site-warning") and len(one_host.query(ComponentPanel)) == 8
