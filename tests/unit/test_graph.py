"""Steps run side by side as their needs allow: real commands through the real Runner (no install).
Two steps that each wait for the other can only both finish when they run at the same time."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jeg_wizard.engine import Engine, Step, StepFailed, make_context
from jeg_wizard.runner import Runner
from jeg_wizard.steps import EVERY_STEP, for_role


class Run:
    """The smallest real action: one command, and a journal note naming the step it ran in."""

    verify_only = False

    def __init__(self, sid: str, argv: list[str]):
        self.sid, self.argv, self.title = sid, argv, f"run {sid}"

    def done(self, ctx):
        return False

    def preview(self, ctx):
        return []

    def apply(self, ctx):
        ctx.journal.write({"kind": "note", "what": self.sid})
        ctx.runner.run(self.argv)


def step(sid: str, argv: list[str], needs: tuple[str, ...] | None = ()) -> Step:
    return Step(sid, sid, "", lambda ctx: [Run(sid, argv)], needs=needs)


def meet(mine: Path, other: Path, also: str = "", tries: int = 200) -> list[str]:
    """Mark mine, wait (tries x 0.1 s) for other: run one after the other, the first one fails."""
    return [
        "sh",
        "-c",
        f"touch {mine}; i=0; while [ ! -e {other} ] && [ $i -lt {tries} ]; do sleep 0.1; i=$((i+1)); done; "
        f"test -e {other} && echo {mine.name} met {other.name} {also}",
    ]


def engine_for(answers, steps) -> Engine:
    return Engine(make_context(answers), steps)


def test_independent_steps_run_at_once_and_keep_their_own_logs_and_journal(tmp_answers, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    steps = [
        step("left", meet(a, b, "LEFT-ONLY")),
        step("right", meet(b, a, "RIGHT-ONLY")),
        step("after", ["sh", "-c", f"test -e {a} && test -e {b} && echo both"], needs=("left", "right")),
    ]
    engine = engine_for(tmp_answers(), steps)
    states = engine.install()
    assert [(st.step.id, st.status) for st in states] == [("left", "ok"), ("right", "ok"), ("after", "ok")]
    L = engine.ctx.layout
    left, right = L.step_log("left").read_text(), L.step_log("right").read_text()
    assert "a met b LEFT-ONLY" in left and "RIGHT-ONLY" not in left
    assert "b met a RIGHT-ONLY" in right and "LEFT-ONLY" not in right
    assert oct(L.step_log("left").stat().st_mode & 0o777) == "0o600"
    both = L.install_log.read_text()
    assert "LEFT-ONLY" in both and "RIGHT-ONLY" in both
    notes = [e for e in engine.ctx.journal.entries() if e.get("kind") == "note" and "what" in e and e["step"]]
    assert {(e["what"], e["step"]) for e in notes} == {("left", "left"), ("right", "right"), ("after", "after")}


def test_one_worker_runs_them_in_list_order(tmp_answers, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    order = tmp_path / "order"
    steps = [step(s, ["sh", "-c", f"echo {s} >> {order}"]) for s in ("one", "two", "three")]
    engine = engine_for(tmp_answers(), steps)
    engine.workers = 1
    engine.install()
    assert order.read_text().split() == ["one", "two", "three"]
    # and steps that must meet cannot: the first waits for a partner that never starts
    engine = engine_for(tmp_answers(), [step("left", meet(a, b, tries=20)), step("right", meet(b, a))])
    engine.workers = 1
    with pytest.raises(StepFailed) as e:
        engine.install()
    assert e.value.state.step.id == "left"


def test_a_failure_lets_the_running_steps_end_and_starts_nothing_that_needs_it(tmp_answers, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    seen: list[tuple[str, str]] = []
    steps = [
        step("breaks", ["sh", "-c", f"touch {a}; echo 'E: broken on purpose'; exit 3"]),
        step("beside", meet(b, a)),  # still running when "breaks" fails: it ends, and ends well
        step("needs_it", ["touch", str(tmp_path / "must-not-exist")], needs=("breaks",)),
    ]
    engine = engine_for(tmp_answers(), steps)
    engine.listeners.append(lambda ev, st: seen.append((ev, st.step.id, st.status)))
    with pytest.raises(StepFailed) as e:
        engine.install()
    assert e.value.state.step.id == "breaks"
    assert "E: broken on purpose" in "\n".join(e.value.state.tail)  # its own lines, for the screen
    assert ("finish", "beside", "ok") in seen
    assert not any(sid == "needs_it" for _, sid, _ in seen)
    assert not (tmp_path / "must-not-exist").exists()


def test_commands_that_lock_the_machine_take_turns(tmp_path):
    """apt-get/dpkg and the account tools fail rather than wait on each other's lock: ours never overlap."""
    import threading

    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "dpkg"
    lock = tmp_path / "held"
    tool.write_text(f"#!/bin/sh\nmkdir {lock} 2>/dev/null || {{ echo overlapped; exit 9; }}\nsleep 0.3\nrmdir {lock}\n")
    tool.chmod(0o755)
    runner = Runner()
    errors: list[BaseException] = []

    def go():
        try:
            runner.run([str(tool)])
        except BaseException as e:  # noqa: BLE001 - collected for the assert
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors


@pytest.mark.parametrize("source", ["pypi", "apache"])
def test_every_step_names_its_needs_among_the_steps_before_it(tmp_answers, source):
    """The README's order stays a valid order (one worker runs it), and no step waits for itself."""
    answers = tmp_answers(spark={"source": source})
    ids = [s.id for s in EVERY_STEP]
    for i, s in enumerate(EVERY_STEP):
        if s.needs_for(answers) is not None:
            assert set(s.needs_for(answers)) <= set(ids[:i]), (s.id, s.needs)
    for role in ("all", "gateway", "hub", "worker"):
        steps = for_role(role)
        waits = Engine.needs(steps, answers)
        assert all(sid not in w for sid, w in waits.items())
    # a tarball's kernel.json names its py4j zip: the kernelspecs wait for Spark; PyPI's need not
    assert ("spark" in Engine.needs(for_role("all"), answers)["kernelspecs"]) == (source == "apache")


def test_ctrl_c_stops_the_steps_commands_at_once(tmp_answers, tmp_path):
    """Without it the pool would wait for every running command (a pip install) to end by itself."""
    import signal
    import threading

    started = tmp_path / "started"
    seen: list[tuple[str, str, str]] = []
    steps = [step("slow", ["sh", "-c", f"touch {started}; exec sleep 30"]), step("beside", ["sleep", "30"])]
    engine = engine_for(tmp_answers(), steps)
    engine.listeners.append(lambda ev, st: seen.append((ev, st.step.id, st.status)))

    def interrupt():
        for _ in range(100):
            if started.exists():
                break
            threading.Event().wait(0.1)
        os.kill(os.getpid(), signal.SIGINT)

    # Ctrl-C as a terminal delivers it: a run started in the background (`cmd &`) inherits SIGINT ignored
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt, daemon=True).start()
        with pytest.raises(KeyboardInterrupt):
            engine.install()
    finally:
        signal.signal(signal.SIGINT, before)
    assert ("finish", "slow", "failed") in seen and ("finish", "beside", "failed") in seen  # killed, not ended
