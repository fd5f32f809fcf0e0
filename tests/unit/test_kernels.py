"""kernels.scala and kernels.r: the answers' rules (Toree's Spark line, chosen or refused naming both keys),
the kernelspecs the step writes and removes, the launcher's exec mode for them (its copy of the connection
file goes once the kernel listens), and the doctor's checks of each."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import pytest

from jeg_wizard import checks, plan, render
from jeg_wizard.actions import AptInstall, FileContent, FileGone, PipTarget
from jeg_wizard.answers import AnswersError, parse
from jeg_wizard.checks.kernels import spec_findings
from jeg_wizard.engine import make_context
from jeg_wizard.kernels import launch_as_user as launcher
from jeg_wizard.layout import Layout
from jeg_wizard.releases import TOREE_JAR, TOREE_REQUIREMENT, TOREE_SPARK
from jeg_wizard.runner import DryRunRunner
from jeg_wizard.steps import kernelspecs


def test_scala_chooses_torees_spark_line_when_no_version_is_given(tmp_answers):
    a = tmp_answers(kernels={"scala": True})
    assert a.spark.version == TOREE_SPARK and TOREE_SPARK.startswith("3.5.")
    assert tmp_answers(kernels={"scala": True}, spark={"version": "3.5.3"}).spark.version == "3.5.3"
    assert tmp_answers().spark.version.startswith("4.")  # Python only: the default Spark


@pytest.mark.parametrize("version,line", [("4.3.0", "2.13"), ("4.0.1", "2.13"), ("2.4.8", "2.11")])
def test_scala_on_another_spark_line_is_refused_naming_both_keys(version, line):
    with pytest.raises(AnswersError) as e:
        parse({"kernels": {"scala": True}, "spark": {"version": version}})
    msg = str(e.value)
    assert "kernels.scala" in msg and f"spark.version is {version} (Scala {line})" in msg
    assert f'set spark.version = "{TOREE_SPARK}"' in msg and "kernels.scala = false" in msg


def test_python_kernel_cannot_take_the_other_kernels_names():
    for key, name in (("scala", "spark_scala"), ("r", "r")):
        with pytest.raises(AnswersError) as e:
            parse({"kernels": {key: True, "name": name}})
        assert f"kernels.name: '{name}' is the kernelspec of kernels.{key}" in str(e.value)


def test_non_booleans_are_refused_naming_the_key():
    with pytest.raises(AnswersError) as e:
        parse({"kernels": {"r": "yes"}})
    assert "kernels.r" in str(e.value)


def _ctx(a):
    return make_context(a, DryRunRunner(probe_results={}), dry_run=True)


def _spec(a, template: str) -> dict:
    return json.loads(
        render.render(f"{template}/kernel.json.j2", render.context(Layout(a)), package="jeg_wizard.kernels")
    )


def test_scala_kernelspec_runs_torees_jar_with_the_kernels_spark_settings(tmp_answers):
    a = tmp_answers(
        kernels={"scala": True, "spark_opts": "--conf spark.ui.enabled=false"}, spark={"master": "local[2]"}
    )
    L = Layout(a)
    k = _spec(a, "spark_scala")
    assert k["language"] == "scala" and k["display_name"] == "Spark - Scala (local)"
    assert k["argv"][:5] == [str(L.spark_home / "bin/spark-submit"), "--master", "local[2]", "--name", "Apache Toree"]
    jar = str(L.toree_dir / TOREE_JAR)
    assert k["argv"][-7:-2] == ["--class", "org.apache.toree.Main", jar, "--spark-context-initialization-mode", "eager"]
    assert k["argv"][-2:] == ["--profile", "{connection_file}"]
    perf = k["argv"].index("spark.driver.extraJavaOptions=-XX:-UsePerfData")
    assert perf < k["argv"].index("spark.ui.enabled=false")  # kernels.spark_opts come after: they win
    assert "--driver-memory" in k["argv"] and "spark.ui.enabled=false" in k["argv"]
    assert k["env"]["SPARK_HOME"] == str(L.spark_home) and k["env"]["JAVA_HOME"] == str(L.java_home)


def test_with_impersonation_other_kernels_go_through_the_launcher(tmp_answers):
    a = tmp_answers(kernels={"scala": True, "r": True}, gateway={"impersonation": True})
    L = Layout(a)
    head = [str(L.kernel_venv / "bin/python"), "-s", str(L.kernel_dir / "launch_as_user.py"), "-f", "{connection_file}"]
    for template, program in (("spark_scala", str(L.spark_home / "bin/spark-submit")), ("r", "/usr/bin/R")):
        argv = _spec(a, template)["argv"]
        assert argv[:6] == [*head, "--"] and argv[6] == program
        assert argv.count("{connection_file}") == 1  # the launcher appends its own copy's path


def test_r_kernelspec_without_sparkr_has_no_spark(tmp_answers):
    k = _spec(tmp_answers(kernels={"r": True}), "r")
    assert k["language"] == "R" and k["display_name"] == "R" and k["env"] == {}
    assert k["argv"] == ["/usr/bin/R", "--slave", "-e", "IRkernel::main()", "--args", "{connection_file}"]


def test_r_kernelspec_names_sparkr_where_the_spark_home_has_it(tmp_answers, tmp_path):
    a = tmp_answers(kernels={"r": True}, spark={"home": str(tmp_path / "spark"), "master": "local[1]"})
    L = Layout(a)
    (L.spark_real_home / "R" / "lib" / "SparkR").mkdir(parents=True)
    k = _spec(a, "r")
    assert k["display_name"] == "R with SparkR"
    assert k["env"]["R_LIBS"] == str(L.spark_real_home / "R" / "lib")
    assert k["env"]["SPARKR_SUBMIT_ARGS"].startswith("--master local[1] ") and k["env"]["SPARKR_SUBMIT_ARGS"].endswith(
        " sparkr-shell"
    )


def test_step_installs_toree_and_r_only_when_asked_and_removes_what_was_turned_off(tmp_answers):
    ctx = _ctx(tmp_answers(kernels={"scala": True, "r": True}))
    actions = kernelspecs.STEP.build(ctx)
    (toree,) = [x for x in actions if isinstance(x, PipTarget)]
    assert toree.requirement == TOREE_REQUIREMENT and toree.no_deps and toree.path == ctx.layout.toree_dir
    assert "--no-deps" in toree.argv(ctx) and toree.sentinel == TOREE_JAR
    (apt,) = [x for x in actions if isinstance(x, AptInstall)]
    assert apt.packages == ["r-base-core", "r-cran-irkernel"]
    written = {x.path for x in actions if isinstance(x, FileContent)}
    assert {ctx.layout.scala_kernel_dir / "kernel.json", ctx.layout.r_kernel_dir / "kernel.json"} <= written
    assert not [x for x in actions if isinstance(x, FileGone)]

    plain = _ctx(tmp_answers())
    actions = kernelspecs.STEP.build(plain)
    assert not [x for x in actions if isinstance(x, (PipTarget, AptInstall))]
    gone = {x.path for x in actions if isinstance(x, FileGone)}
    assert gone == {plain.layout.scala_kernel_dir / "kernel.json", plain.layout.r_kernel_dir / "kernel.json"}


def test_file_gone_removes_only_a_file_of_ours(tmp_answers, tmp_path):
    from jeg_wizard.actions import FileRecord
    from jeg_wizard.engine import Journal

    ctx = _ctx(tmp_answers())
    spec = tmp_path / "spark_scala" / "kernel.json"
    spec.parent.mkdir()
    spec.write_text("{}")
    gone = FileGone(spec)
    journal = Journal(ctx.layout.state_dir / "journal.jsonl")
    assert gone.done(ctx)  # nobody's run of ours wrote it: left alone
    journal.write(FileRecord(str(spec), created=True).entry())
    assert not gone.done(ctx)
    assert "rm" in gone.preview(ctx)[0]


def test_plan_says_what_each_kernel_can_do_with_spark(tmp_answers):
    lines = plan.kernel_lines(tmp_answers(kernels={"scala": True, "r": True}))
    assert lines[0] == f"kernels: Scala (Apache Toree 0.5, Scala 2.12) on Spark {TOREE_SPARK}, master local[*]"
    assert "R (IRkernel from the distribution) without Spark: PyPI's pyspark ships no SparkR" in lines[1]
    assert plan.kernel_lines(tmp_answers()) == []


def test_doctor_checks_torees_jar_and_irkernel(tmp_path, monkeypatch):
    submit = tmp_path / "spark/bin/spark-submit"
    submit.parent.mkdir(parents=True)
    submit.write_text("#!/bin/sh\n")
    submit.chmod(0o755)
    jar = tmp_path / "toree.jar"
    argv = [str(submit), "--master", "local[*]", "--class", "org.apache.toree.Main", str(jar), "--profile"]
    k = {"language": "scala", "argv": [*argv, "{connection_file}"], "env": {"SPARK_HOME": str(tmp_path / "spark")}}
    found = spec_findings(k, spark=True)  # a Scala kernel needs no PYSPARK_* however it is named
    assert [p for p, _ in found] == [f"Toree's jar {jar} is missing"]
    jar.write_text("")
    assert spec_findings(k, spark=True) == []

    monkeypatch.setattr(checks.kernels, "R_LIBRARIES", (str(tmp_path / "lib"),))
    r = {"language": "R", "argv": ["/bin/sh", "--args", "{connection_file}"], "env": {}}
    ((problem, fix),) = spec_findings(r, spark=False)
    assert "IRkernel is not installed" in problem and "r-cran-irkernel" in fix
    (tmp_path / "lib" / "IRkernel").mkdir(parents=True)
    assert spec_findings(r, spark=False) == []
    # through the launcher: the program after `--` must exist
    via = {"language": "R", "argv": ["/bin/sh", "-f", "{connection_file}", "--", str(tmp_path / "no-R")], "env": {}}
    assert [p for p, _ in spec_findings(via, spark=False)] == [f"its program {tmp_path / 'no-R'} is missing"]


def test_launcher_usage_for_the_exec_mode():
    assert launcher.main(["-f", "x", "--"]) == 2  # `--` with no program
    assert launcher.main(["-f"]) == 2


def test_launcher_copy_goes_once_the_kernel_listens(tmp_path):
    """A stand-in kernel that reads nothing but listens after a while: the copy stays until it listens."""
    d = tmp_path / "jeg-kernel-x"
    d.mkdir()
    path = d / "kernel.json"
    path.write_text("{}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kernel = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import socket,time; time.sleep(1.0); s=socket.socket(); s.bind(('127.0.0.1',{port})); s.listen(); "
            "time.sleep(30)",
        ]
    )
    try:
        t0 = time.monotonic()
        launcher.remove_when_read(str(path), {port}, kernel.pid)
        took = time.monotonic() - t0
        assert not d.exists()
        assert 0.8 < took < 10, took  # not before the kernel listened; soon after
        assert kernel.poll() is None  # the kernel runs on
    finally:
        kernel.kill()
        kernel.wait()


def test_launcher_copy_goes_when_the_kernel_dies_without_listening(tmp_path):
    d = tmp_path / "jeg-kernel-y"
    d.mkdir()
    (d / "kernel.json").write_text("{}")
    kernel = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.5)"])
    t0 = time.monotonic()
    launcher.remove_when_read(str(d / "kernel.json"), {1}, kernel.pid)  # a zombie (not reaped yet) counts as gone
    assert not d.exists() and time.monotonic() - t0 < 10
    kernel.wait()


def test_listening_ports_are_the_processes_own(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert s.getsockname()[1] in launcher.listening_ports(os.getpid())
    assert launcher.listening_ports(2**22 + 12345) == set()  # no such process


def test_gateway_serves_each_kernelspec_asked_for_and_no_other(tmp_answers):
    for kernels, names in (
        ({}, '["spark_python_local"]'),
        ({"scala": True, "r": True}, '["spark_python_local", "spark_scala", "r"]'),
    ):
        text = render.render(
            "jupyter_enterprise_gateway_config.py.j2", render.context(Layout(tmp_answers(kernels=kernels)))
        )
        render.check_python(text, "gateway config")
        assert f"c.KernelSpecManager.whitelist = set({names})" in text


def test_scala_is_refused_where_the_distribution_ships_no_java_for_spark_3():
    from jeg_wizard import distro
    from jeg_wizard.answers import Answers, cross_checks

    trixie = distro.Distro("debian", "13", "Debian GNU/Linux 13 (trixie)")
    a = Answers.model_validate({"kernels": {"scala": True}, "java": {"version": 17}})
    found = [p for p in cross_checks(a, trixie) if p.startswith("kernels.scala")]
    assert found == [
        "kernels.scala: the Scala kernel runs on Spark 3.x, which needs Java 8 or 11 or 17, and Debian GNU/Linux 13 "
        "(trixie) ships only Java 21, 25: set kernels.scala = false here"
    ]
    assert not [p for p in cross_checks(a, distro.Distro("debian", "12", "Debian 12")) if p.startswith("kernels.")]


def _relay(tmp_answers, monkeypatch):
    """The user servers' websocket relay class from the rendered config, over a stand-in base class that
    records what it would send to the browser (jupyter_server is the hub venv's, not the wizard's)."""
    import types

    sent: list[str] = []

    class Base:
        def handle_outgoing_message(self, incoming_msg, *args):
            sent.append(incoming_msg)

    class GatewayClient:
        def init_connection_args(self):
            return {}

    modules = {
        "jupyter_server.gateway.connections": types.SimpleNamespace(GatewayWebSocketConnection=Base),
        "jupyter_server.gateway.gateway_client": types.SimpleNamespace(GatewayClient=GatewayClient),
        "tornado": types.SimpleNamespace(web=types.SimpleNamespace(HTTPError=Exception)),
    }
    for name in ("jupyter_server", "jupyter_server.gateway"):
        modules[name] = types.SimpleNamespace()
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    text = render.render("jupyter_server_config.py.j2", render.context(Layout(tmp_answers())))
    space = {"get_config": lambda: _Config()}
    exec(compile(text, "jupyter_server_config.py", "exec"), space)
    return space["LegacyOnlyGatewayWebSocketConnection"](), sent


class _Config:
    """Any c.X.y = value is accepted."""

    def __getattr__(self, name):
        value = _Config()
        object.__setattr__(self, name, value)
        return value


def _msg(kind: str, session: str, **content) -> str:
    return json.dumps({"header": {"msg_type": kind, "session": session, "msg_id": kind}, "content": content})


def test_relay_makes_toree_idle_in_lab_and_leaves_other_kernels_alone(tmp_answers, monkeypatch):
    relay, sent = _relay(tmp_answers, monkeypatch)
    relay.handle_outgoing_message(_msg("status", "iopub-1", execution_state="busy"))
    relay.handle_outgoing_message(_msg("kernel_info_reply", "other-2", implementation="spark"))
    status, reply, idle = map(json.loads, sent)
    assert reply["header"]["session"] == "iopub-1"  # Toree's reply gets the kernel's session
    assert idle["channel"] == "iopub" and idle["content"] == {"execution_state": "idle"}
    assert idle["parent_header"] == {} and idle["header"]["session"] == "iopub-1" and idle["msg_type"] == "status"

    relay, sent = _relay(tmp_answers, monkeypatch)
    relay.handle_outgoing_message('{"not": "a message"')  # not JSON: passed on untouched
    status, ipykernel = (
        _msg("status", "k", execution_state="busy"),
        _msg("kernel_info_reply", "k", implementation="ipython"),
    )
    relay.handle_outgoing_message(status)
    relay.handle_outgoing_message(ipykernel)
    assert sent == ['{"not": "a message"', status, ipykernel]  # ipykernel's messages pass unchanged
