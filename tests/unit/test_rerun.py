"""A re-run with nothing to change only looks: the deep checks (Spark jobs, programs run to see
that they answer) run on --verify, on the first run, and on any run after a change."""

from __future__ import annotations

from jeg_wizard.actions import Check, FileContent
from jeg_wizard.engine import Engine, Step, make_context
from jeg_wizard.runner import Runner


def _steps(tmp_path, ran: list[str], content: dict):
    def check(name):
        return lambda ctx: ran.append(name)

    first = Step(
        "first",
        "a file, then a deep check",
        "",
        lambda ctx: [
            FileContent(tmp_path / "f", lambda: content["f"]),
            Check("deep 1", check("deep 1"), deep=True),
        ],
    )
    second = Step(
        "second",
        "a quick and a deep check",
        "",
        lambda ctx: [
            FileContent(tmp_path / "g", lambda: content["g"]),
            Check("quick", check("quick")),
            Check("deep 2", check("deep 2"), deep=True),
        ],
    )
    return [first, second]


def _run(answers, steps, verify=False) -> tuple[Engine, int]:
    ctx = make_context(answers, Runner(), verify=verify)
    before = len(ctx.journal.entries())
    engine = Engine(ctx, steps)
    engine.install()
    return engine, len(ctx.journal.entries()) - before


def test_a_rerun_with_nothing_to_change_runs_only_the_quick_checks(tmp_answers, tmp_path):
    answers, ran, content = tmp_answers(), [], {"f": "1\n", "g": "1\n"}
    steps = _steps(tmp_path, ran, content)
    _run(answers, steps)
    assert ran == ["deep 1", "quick", "deep 2"]  # the first run checks everything

    ran.clear()
    engine, journaled = _run(answers, steps)
    assert ran == ["quick"] and journaled == 0
    assert [st.status for st in engine.plan()] == ["done", "check"]

    ran.clear()
    _run(answers, steps, verify=True)
    assert ran == ["deep 1", "quick", "deep 2"]


def test_a_change_makes_the_checks_after_it_deep_until_a_run_passes(tmp_answers, tmp_path):
    answers, ran, content = tmp_answers(), [], {"f": "1\n", "g": "1\n"}
    steps = _steps(tmp_path, ran, content)
    _run(answers, steps)
    content["g"] = "2\n"  # the second step has a change to make: its deep check runs after it
    plan = Engine(make_context(answers, Runner()), steps).plan()
    assert [st.status for st in plan] == ["done", "todo"]
    assert [a.title for a in plan[1].pending][1:] == ["quick", "deep 2"]

    ran.clear()
    _, journaled = _run(answers, steps)
    assert ran == ["quick", "deep 2"] and journaled > 0

    ran.clear()
    _run(answers, steps)
    assert ran == ["quick"]


def test_a_run_that_fails_after_a_change_leaves_the_next_run_verifying(tmp_answers, tmp_path):
    answers, ran, content = tmp_answers(), [], {"f": "1\n", "g": "1\n"}
    steps = _steps(tmp_path, ran, content)
    _run(answers, steps)
    content["f"] = "2\n"
    engine = Engine(make_context(answers, Runner()), steps)
    engine.run_step(steps[0])  # interrupted before the second step: not every step passed
    engine.mark_verified()
    ran.clear()
    _run(answers, steps)
    assert ran == ["deep 1", "quick", "deep 2"]
