"""The gate on the Plan screen: the checks `install` runs before any change run before Start too;
their problems are listed and Start stays disabled until the answers are fixed (Back, fix, come back)."""

import pytest

from jeg_wizard import preflight
from jeg_wizard.tui.screens.plan import PlanScreen
from jeg_wizard.tui.screens.questions import QuestionsScreen
from jeg_wizard.tui.screens.run import RunScreen

from .states import SIZE, demo_answers, demo_app, fill_password, settle, steady, text_of, to_questions

pytestmark = pytest.mark.anyio

BUSY = "proxy.api_port: port 8001 on 127.0.0.1 is already in use by another program; stop it or choose another port"


def gate_answering(*results):
    """A gate that gives these results in turn (the last one from then on), recording its calls."""
    calls = []

    def gate(answers, steps):
        calls.append((answers, [s.id for s in steps]))
        return list(results[min(len(calls), len(results)) - 1])

    gate.calls = calls
    return gate


async def to_gated_plan(pilot) -> None:
    await to_questions(pilot)
    await fill_password(pilot)
    await pilot.press("ctrl+n")
    await settle(pilot, lambda: isinstance(pilot.app.screen, PlanScreen) and pilot.app.screen.problems is not None)


async def test_a_failing_gate_shows_its_problem_and_disables_start_until_fixed(machine):
    gate = gate_answering([BUSY], [])
    app = demo_app(gate=gate)
    async with app.run_test(size=SIZE) as pilot:
        await to_gated_plan(pilot)
        plan = app.screen
        shown = plan.query_one("#plan-gate")
        assert shown.display and "port 8001 on 127.0.0.1 is already in use" in text_of(shown)
        assert "Cannot start; nothing has changed" in text_of(shown)
        assert plan.query_one("#start").disabled
        assert plan.check_action("start", ()) is None  # greyed out in the footer
        await pilot.press("s")
        await pilot.pause()
        assert app.screen is plan and not any(isinstance(s, RunScreen) for s in app.screen_stack)
        assert gate.calls[0][1] == [st.step.id for st in plan.states]  # every step the run would do

        # back to the questions, fix, come back: the gate runs again and lets the run start
        await pilot.press("escape")
        await settle(pilot, lambda: isinstance(app.screen, QuestionsScreen))
        await pilot.press("ctrl+n")
        await settle(pilot, lambda: isinstance(app.screen, PlanScreen) and app.screen.problems is not None)
        plan = app.screen
        assert len(gate.calls) == 2 and plan.problems == []
        assert not plan.query_one("#plan-gate").display
        assert not plan.query_one("#start").disabled and plan.check_action("start", ())
        await pilot.press("s")
        await settle(pilot, lambda: isinstance(app.screen, RunScreen))


async def test_the_real_gate_refuses_a_config_file_that_is_not_ours(machine, tmp_path, monkeypatch):
    """The TUI runs preflight.gate itself: here its foreign-config check (the CLI's exit 2)."""
    monkeypatch.setattr(
        preflight, "problems", lambda a, need_root=True, role="all", bundle=None: []
    )  # root, ports...: this box's
    config_dir = tmp_path / "jupyter"
    config_dir.mkdir()
    (config_dir / "jupyterhub_config.py").write_text("c.JupyterHub.bind_url = 'http://:9999'\n")
    app = demo_app(answers=demo_answers(hub={"config_dir": str(config_dir)}), gate=preflight.gate)
    async with app.run_test(size=SIZE) as pilot:
        await to_gated_plan(pilot)
        shown = text_of(app.screen.query_one("#plan-gate"))
        assert f"{config_dir}/jupyterhub_config.py" in shown, shown
        assert app.screen.query_one("#start").disabled


async def test_a_gate_that_crashes_does_not_let_the_run_start(machine):
    def gate(answers, steps):
        raise OSError("no /proc")

    app = demo_app(gate=gate)
    async with app.run_test(size=SIZE) as pilot:
        await to_gated_plan(pilot)
        assert "the checks before any change could not run: OSError: no /proc" in text_of(
            app.screen.query_one("#plan-gate")
        )
        assert app.screen.query_one("#start").disabled


def test_refused_plan_snapshot(snap_compare, machine):
    assert snap_compare(
        demo_app(gate=gate_answering([BUSY, "admin_user: a second problem, for the list"])),
        terminal_size=SIZE,
        run_before=steady(to_gated_plan),
    )
