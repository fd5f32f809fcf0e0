"""The whole wizard, headless, over the real engine and the real steps with a recording runner:
a wrong answer and its error, the plan, the run, the health panels, the saved answers."""

import gc
import os
import stat

import pytest
import tomllib

from jeg_wizard.answers import load, parse
from jeg_wizard.engine import Engine, make_context
from jeg_wizard.runner import DryRunRunner
from jeg_wizard.steps import STEPS
from jeg_wizard.tui.app import build_app
from jeg_wizard.tui.screens.finish import FinishScreen
from jeg_wizard.tui.screens.plan import PlanScreen
from jeg_wizard.tui.screens.questions import QuestionsScreen
from jeg_wizard.tui.screens.run import RunScreen
from jeg_wizard.tui.widgets import HealthPanel, LogStream, StepList

from .states import DEBIAN12, FACTS, passing_gate, settle, text_of

pytestmark = pytest.mark.anyio

PASSWORD = "Flow-Canary-93c1"
# ports nothing on this box listens on, so the health panels must say "down"
PORTS = {"gateway": 47888, "hub": 47000, "hub_api": 47081, "proxy": 47001}


def answers_in(tmp_path):
    envfile = tmp_path / "etc" / "environment"
    envfile.parent.mkdir(parents=True)
    envfile.write_text('PATH="/usr/bin:/bin"\n')
    return parse(
        {
            "system": {
                "prefix": str(tmp_path / "opt"),
                "state_dir": str(tmp_path / "state"),
                "log_dir": str(tmp_path / "log"),
            },
            "environment": {"file": str(envfile)},
            "kernels": {"dir": str(tmp_path / "share" / "jupyter" / "kernels")},
            "hub": {
                "config_dir": str(tmp_path / "etc" / "jupyter"),
                "ip": "127.0.0.1",
                "port": PORTS["hub"],
                "hub_port": PORTS["hub_api"],
            },
            "gateway": {"port": PORTS["gateway"]},
            "proxy": {"api_port": PORTS["proxy"]},
            "users": {"admin": "jegwnobody"},
            "services": {"manager": "process"},
        },
        DEBIAN12,
    )


async def type_into(pilot, selector, text):
    inp = pilot.app.screen.query_one(selector)
    inp.focus()
    inp.value = ""
    await pilot.press(*text)


def error_text(screen, path):
    err = screen.query_one("#e-" + path.replace(".", "-"))
    return text_of(err) if err.display else ""


async def test_whole_flow_dry_run(tmp_path):
    runners = []

    def engine(a):
        ctx = make_context(a, DryRunRunner(probe_results={}), dry_run=True)
        runners.append(ctx.runner)
        return Engine(ctx, STEPS)

    app = build_app(
        answers_in(tmp_path),
        make_engine=engine,
        facts=FACTS,
        dist=DEBIAN12,
        admin_exists=False,
        health_interval=0,
        gate=passing_gate,
    )
    async with app.run_test(size=(80, 24)) as pilot:
        # Welcome: what will be installed and the (injected) machine facts
        welcome = app.screen
        assert "Jupyter Enterprise Gateway 3.3.0" in text_of(welcome.query_one("#stack"))
        machine = text_of(welcome.query_one("#machine"))
        assert "Debian GNU/Linux 12" in machine and "hub.hub_port 8081" in machine
        assert "system, java, spark" in machine  # the earlier install's steps
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, QuestionsScreen))
        q = app.screen
        assert q.query_one("#f-gateway-port").value == str(PORTS["gateway"])  # pre-filled

        # a wrong port, a short password and a mismatching confirmation: each error under its field
        await type_into(pilot, "#f-gateway-port", "70000")
        await type_into(pilot, "#f-users-admin_password", "short")
        await type_into(pilot, "#f-users-admin_password_confirm", "other")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, QuestionsScreen), "an invalid form must not go on"
        assert "must be an integer between 1 and 65535, got 70000" in error_text(q, "gateway.port")
        assert "at least 8 characters" in error_text(q, "users.admin_password")
        assert "does not match" in error_text(q, "users.admin_password_confirm")
        assert error_text(q, "gateway.ip") == ""
        assert q.query_one("#f-gateway-port").has_class("invalid")
        assert app.focused is q.query_one("#f-gateway-port")  # the first problem gets the focus
        assert "3 answers to fix" in text_of(q.query_one("#problems"))

        # a cross-field rule from answers.parse lands on its field too (Spark 4 needs Java 17/21)
        await type_into(pilot, "#f-gateway-port", str(PORTS["gateway"]))
        q.query_one("#f-java-version").value = "11"
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "Spark 4.3.0 needs Java 17 or 21" in error_text(q, "java.version")
        assert error_text(q, "gateway.port") == "" and not q.query_one("#f-gateway-port").has_class("invalid")
        q.query_one("#f-java-version").value = "17"

        await type_into(pilot, "#f-users-admin_password", PASSWORD)
        await type_into(pilot, "#f-users-admin_password_confirm", PASSWORD)
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: isinstance(app.screen, PlanScreen) and bool(app.screen.states))

        # Plan: every step with its state; the highlighted step's commands and diffs, secrets masked
        plan = app.screen
        assert [st.step.id for st in plan.states] == [s.id for s in STEPS]
        assert {st.status for st in plan.states} <= {"todo", "check", "done"}
        assert plan.query_one(StepList).row_count == len(STEPS)
        assert "$ apt-get -o DPkg::Lock::Timeout=600 update -q" in text_of(plan.query_one("#plan-preview"))
        await pilot.press(*["down"] * [s.id for s in STEPS].index("environment"))
        await pilot.pause()
        preview = text_of(plan.query_one("#plan-preview"))
        assert f'+SPARK_HOME="{tmp_path}/opt/spark/pyspark"' in preview
        for st in plan.states:
            assert PASSWORD not in str(plan.previews[st.step.id])
        assert not (tmp_path / "state").exists(), "planning must change nothing"

        # Run: the real engine over the recording runner, to the end
        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.done, timeout=60)
        run = app.screen
        assert set(run.status) == {s.id for s in STEPS}
        assert set(run.status.values()) <= {"ok", "done"}
        assert run.status["admin_user"] == "ok"
        await pilot.pause(0.15)
        log = run.query_one(LogStream)
        assert log.received == log.written and log.written > 50
        text = "\n".join(log.lines)
        assert "== system:" in text and "$ useradd --create-home --shell /bin/bash jegwnobody" in text
        assert PASSWORD not in text
        runner = runners[-1]
        flat = [" ".join(c) for c in runner.commands]
        i = flat.index("chpasswd")
        assert runner.inputs[i] == f"jegwnobody:{PASSWORD}\n"  # the typed password reached the engine

        # the replayable answers: saved at the start of the run, 0600, no secret, loads to the same answers
        saved = tmp_path / "state" / "answers.toml"
        assert app.answers_saved == saved
        assert stat.S_IMODE(os.stat(saved).st_mode) == 0o600
        body = saved.read_text()
        assert PASSWORD not in body and "NOT saved" in body
        replay = load(saved, DEBIAN12)
        assert replay == app.answers and not replay.users.admin_password_env
        assert tomllib.loads(body)["gateway"]["port"] == PORTS["gateway"]

        # Finish: health panels (nothing listens on these ports: down), login URLs, the answers' path
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, FinishScreen))
        fin = app.screen
        # the run's gc.freeze ends with the run: later objects (and later tests') are collected
        await settle(pilot, lambda: gc.get_freeze_count() == 0)
        await settle(pilot, lambda: all(p.polls for p in fin.query(HealthPanel)), timeout=20)
        panels = {p.probe.name: p for p in fin.query(HealthPanel)}
        assert set(panels) == {"gateway", "hub", "proxy", "kernels"}  # no spark:// master configured
        assert panels["gateway"].probe.url == f"http://127.0.0.1:{PORTS['gateway']}"
        archive = panels.pop("kernels").findings[0]  # a dry run wrote no class archive
        assert archive.warning and "spark-driver.jsa is missing" in archive.detail, archive
        for p in panels.values():
            assert p.findings and p.findings[0].status == "problem"
            assert "does not answer" in p.findings[0].detail
            assert p.has_class("problem") and p.border_subtitle == "✗ problem"
        login = text_of(fin.query_one("#login"))
        assert f"http://127.0.0.1:{PORTS['hub']}/user/jegwnobody/lab" in login
        assert f"http://127.0.0.1:{PORTS['hub']}/user/jegwnobody/tree" in login
        assert str(saved) in text_of(fin.query_one("#saved"))

        # the end-to-end check on its key: a real attempt, which fails here (no hub) and says so
        await pilot.press("e")
        await settle(pilot, lambda: not fin.e2e_running, timeout=60)
        assert len(fin.e2e_lines) == 1
        assert "end-to-end check failed" in str(fin.e2e_lines[-1])
        assert PASSWORD not in "".join(str(t) for t in fin.e2e_lines)


async def test_back_keeps_answers_and_a_new_engine_for_new_answers(tmp_path):
    made = []

    def engine(a):
        made.append(a)
        return Engine(make_context(a, DryRunRunner(probe_results={}), dry_run=True), STEPS)

    app = build_app(
        answers_in(tmp_path), make_engine=engine, facts=FACTS, dist=DEBIAN12, admin_exists=True, gate=passing_gate
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, QuestionsScreen))
        await type_into(pilot, "#f-kernels-display_name", "Spark on this box")
        await pilot.press("ctrl+n")  # admin exists: no password needed (kept)
        await settle(pilot, lambda: isinstance(app.screen, PlanScreen) and bool(app.screen.states))
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, QuestionsScreen))
        assert app.screen.query_one("#f-kernels-display_name").value == "Spark on this box"
        await type_into(pilot, "#f-kernels-name", "spark_box")
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: isinstance(app.screen, PlanScreen) and bool(app.screen.states))
        assert [a.kernels.name for a in made] == ["spark_python_local", "spark_box"]
        assert app.password is None


def dry_app(tmp_path):
    """The wizard over the real steps with a runner that records (nothing on the machine changes)."""
    return build_app(
        answers_in(tmp_path),
        facts=FACTS,
        dist=DEBIAN12,
        admin_exists=True,
        gate=passing_gate,
        make_engine=lambda a: Engine(make_context(a, DryRunRunner(probe_results={}), dry_run=True), STEPS),
    )


async def test_advanced_fields_open_to_show_their_error(tmp_path):
    app = dry_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, QuestionsScreen))
        q = app.screen
        assert q.widget("gateway.request_timeout") is None  # not mounted until opened
        await type_into(pilot, "#f-gateway-kernel_launch_timeout", "600")  # > request_timeout (150)
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: q.widget("gateway.request_timeout") is not None)
        await pilot.pause()
        assert "must be greater than gateway.kernel_launch_timeout" in error_text(q, "gateway.request_timeout")
        assert not q.query_one("#more-gateway").collapsed
        assert isinstance(app.screen, QuestionsScreen)


async def test_more_settings_open_from_the_keyboard(tmp_path):
    from textual.widgets._collapsible import CollapsibleTitle

    app = dry_app(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, QuestionsScreen))
        q = app.screen
        q.query_one("#more-system").query_one(CollapsibleTitle).focus()
        await pilot.press("enter")
        await settle(pilot, lambda: q.widget("system.state_dir") is not None)
        assert q.widget("system.state_dir").value == str(tmp_path / "state")
        await type_into(pilot, "#f-system-state_dir", "relative/path")
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert "must be an absolute path" in error_text(q, "system.state_dir")
