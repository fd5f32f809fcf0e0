"""The Run screen over the real Runner: a step that prints many lines, one that fails once (Retry),
one that always fails (Skip), one that cannot be skipped, and Ctrl+C while a command runs."""

import os
import sys
import time
from dataclasses import dataclass

import pytest

from jeg_wizard.engine import Engine, Step, make_context
from jeg_wizard.runner import Runner
from jeg_wizard.tui.app import build_app
from jeg_wizard.tui.screens.finish import FinishScreen
from jeg_wizard.tui.screens.plan import PlanScreen
from jeg_wizard.tui.screens.run import RunScreen
from jeg_wizard.tui.widgets import LogStream

from .states import DEBIAN12, FACTS, demo_answers, passing_gate, settle, text_of

pytestmark = pytest.mark.anyio

LINES = 20_000


@dataclass
class Command:
    """The smallest real action: one command through ctx.runner."""

    title: str
    argv: list
    verify_only = False

    def done(self, ctx):
        return False

    def preview(self, ctx):
        return [f"$ {ctx.runner.show(self.argv)}"]

    def apply(self, ctx):
        ctx.runner.run(self.argv)


def step(sid, argv, skippable=True):
    return Step(sid, f"{sid} step", "(test)", lambda ctx, a=argv: [Command(f"run {sid}", a)], skippable=skippable)


def app_with(steps, tmp_path):
    answers = demo_answers(system={"state_dir": str(tmp_path / "state"), "log_dir": str(tmp_path / "log")})
    runner = Runner()
    engine = Engine(make_context(answers, runner, log_to_file=False), steps)
    app = build_app(
        answers,
        make_engine=lambda a: engine,
        facts=FACTS,
        dist=DEBIAN12,
        admin_exists=True,
        probes=lambda ctx: [],
        health_interval=0,
        gate=passing_gate,
    )
    return app, engine


def wait_gone(pid: int, when: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"pid {pid} still runs {when}")


async def to_run(pilot, app):
    await pilot.press("enter")
    await pilot.pause()
    await pilot.press("ctrl+n")
    await settle(pilot, lambda: isinstance(app.screen, PlanScreen) and bool(app.screen.states))
    await pilot.press("s")
    await settle(pilot, lambda: isinstance(app.screen, RunScreen))


async def test_many_lines_retry_and_skip(tmp_path):
    flag = tmp_path / "second-attempt"
    steps = [
        step("chatty", [sys.executable, "-c", f"for i in range({LINES}): print('pip-like output line', i)"]),
        step(
            "flaky",
            [
                "sh",
                "-c",
                f"test -e {flag} && echo fixed now || {{ touch {flag}; echo 'E: first attempt fails'; exit 3; }}",
            ],
        ),
        step("broken", ["sh", "-c", "echo 'E: this cannot work here'; exit 4"]),
        step("last", ["echo", "all done"]),
    ]
    app, engine = app_with(steps, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_run(pilot, app)
        run = app.screen
        log = run.query_one(LogStream)

        # flaky fails: red, its last lines and a hint, Retry and Skip offered
        await settle(pilot, lambda: run.failed == 1, timeout=60)
        assert run.status["chatty"] == "ok"
        await pilot.pause(0.15)
        # every line is either on screen or counted as dropped (and said so); the widget stays bounded
        assert log.received >= LINES and log.written + log.dropped == log.received
        assert len(log.lines) <= log.max_lines
        assert "pip-like output line 19999" in log.lines
        failure = text_of(run.query_one("#failure-text"))
        assert "step flaky failed: command failed (exit 3)" in failure
        assert "E: first attempt fails" in failure and "Hint:" in failure
        assert run.query_one("#failure").display
        assert app.screen.check_action("retry", ()) and app.screen.check_action("skip", ())

        await pilot.press("r")  # Retry: the same step again, which now succeeds
        await settle(pilot, lambda: run.failed == 2, timeout=30)
        assert run.status["flaky"] == "ok"
        assert "fixed now" in "\n".join(log.lines)
        assert "E: this cannot work here" in text_of(run.query_one("#failure-text"))

        await pilot.press("s")  # Skip: marked skipped, the run goes on
        await settle(pilot, lambda: run.done, timeout=30)
        assert run.status == {"chatty": "ok", "flaky": "ok", "broken": "skipped", "last": "ok"}
        assert "all done" in "\n".join(log.lines)
        await pilot.press("enter")
        await settle(pilot, lambda: isinstance(app.screen, FinishScreen))
        summary = text_of(app.screen.query_one("#finish-summary"))
        assert "3 steps did work" in summary and "skipped: broken" in summary


async def test_a_step_that_cannot_be_skipped(tmp_path):
    steps = [step("needed", ["sh", "-c", "echo nope; exit 1"], skippable=False), step("after", ["true"])]
    app, engine = app_with(steps, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_run(pilot, app)
        run = app.screen
        await settle(pilot, lambda: run.failed == 0, timeout=30)
        assert run.check_action("skip", ()) is None  # shown greyed out in the footer
        assert run.query_one("#skip").disabled
        assert "cannot be skipped" in text_of(run.query_one("#failure-text"))
        await pilot.press("s")
        await pilot.pause(0.2)
        assert run.failed == 0 and "after" not in run.status
        await pilot.press("q")  # quitting after a failure: exit code 1 and how to resume
        await pilot.pause()
    assert app.return_value == 1
    assert "stopped at step 'needed'" in app.farewell and "resume" in app.farewell


async def test_ctrl_c_stops_the_running_command(tmp_path):
    pidfile = tmp_path / "pid"
    steps = [step("slow", ["sh", "-c", f"echo $$ > {pidfile}; echo started; exec sleep 120"])]
    app, engine = app_with(steps, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_run(pilot, app)
        await settle(pilot, lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=30)
        pid = int(pidfile.read_text())
        os.kill(pid, 0)  # running
        await pilot.press("ctrl+c")
        await pilot.pause()
    wait_gone(pid, "after Ctrl+C")
    assert app.stopping
    assert "stopped at step 'slow'" in app.farewell


async def test_q_while_running_asks_first_then_stops_the_command(tmp_path):
    from jeg_wizard.tui.screens.confirm import Confirm

    pidfile = tmp_path / "pid"
    steps = [step("slow", ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 120"])]
    app, engine = app_with(steps, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_run(pilot, app)
        await settle(pilot, lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=30)
        pid = int(pidfile.read_text())
        await pilot.press("q")
        await settle(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("n")  # no: the install goes on
        await settle(pilot, lambda: isinstance(app.screen, RunScreen))
        os.kill(pid, 0)
        assert not app.stopping
        await pilot.press("q")
        await settle(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await pilot.pause()
    assert app.return_value == 1 and app.stopping
    wait_gone(pid, "after quitting")


async def test_independent_steps_show_running_side_by_side(tmp_path):
    """Two steps that each wait for the other (bounded): both show running at once, then both end ok."""
    from dataclasses import replace

    from jeg_wizard.tui.widgets import StepList

    a, b = tmp_path / "a", tmp_path / "b"

    def meet(mine, other):
        wait = f"i=0; while [ ! -e {other} ] && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done"
        return ["sh", "-c", f"touch {mine}; {wait}; sleep 0.5; test -e {other} && echo {mine.name} met {other.name}"]

    steps = [
        replace(step("left", meet(a, b)), needs=()),
        replace(step("right", meet(b, a)), needs=()),
        replace(step("after", ["echo", "both met"]), needs=("left", "right")),
    ]
    app, engine = app_with(steps, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await to_run(pilot, app)
        run = app.screen
        await settle(pilot, lambda: len(run.running) == 2, timeout=30)
        table = run.query_one(StepList)
        states = {sid: str(table.get_cell(sid, "state")) for sid in ("left", "right")}
        assert all("running" in s for s in states.values()), states
        assert "running: left, right" in text_of(run.query_one("#run-label"))
        await settle(pilot, lambda: run.done, timeout=60)
        assert run.status == {"left": "ok", "right": "ok", "after": "ok"}
        assert "a met b" in "\n".join(run.query_one(LogStream).lines)
