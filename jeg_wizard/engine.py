"""The engine: steps made of actions, a plan that only looks, and a run that makes the plan true.

No textual here: the CLI, `--unattended` and the TUI all drive `Engine`.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from .answers import Answers
from .layout import Layout
from .redact import Redactor
from .runner import Runner
from .secrets import Secrets


class Action(Protocol):
    title: str
    verify_only: bool  # True: a check that changes nothing (runs every time)

    def done(self, ctx: "Context") -> bool: ...
    def preview(self, ctx: "Context") -> list[str]: ...
    def apply(self, ctx: "Context") -> None: ...


@dataclass
class Step:
    id: str
    title: str
    readme: str  # the README stage this step performs
    build: Callable[["Context"], list[Action]]
    skippable: bool = True


@dataclass
class Context:
    answers: Answers
    runner: Runner
    secrets: Secrets
    journal: "Journal"
    say: Callable[[str], None] = print
    interactive: bool = False

    @property
    def layout(self) -> Layout:
        return Layout(self.answers)

    @property
    def dry_run(self) -> bool:
        return self.runner.dry_run

    def record(self, **entry) -> None:
        self.journal.write(entry)


class Journal:
    """Append-only, fsynced record of what each step did (what uninstall and resume read)."""

    def __init__(self, path: Path | None):
        self.path = path
        self.step = ""

    def write(self, entry: dict) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        line = json.dumps({"ts": time.time(), "step": self.step, **entry}, default=str) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def entries(self) -> list[dict]:
        if self.path is None or not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------ events for the front ends


@dataclass
class StepState:
    step: Step
    actions: list[Action] = field(default_factory=list)
    pending: list[Action] = field(default_factory=list)  # actions whose end state does not hold yet
    status: str = "unknown"  # done | todo | check | running | ok | failed | skipped
    seconds: float = 0.0
    error: str = ""

    @property
    def changes(self) -> bool:
        return any(not a.verify_only for a in self.pending)


Listener = Callable[[str, StepState], None]  # (event, state): "plan", "start", "finish"


class StepFailed(Exception):
    def __init__(self, state: StepState, cause: BaseException):
        self.state, self.cause = state, cause
        super().__init__(f"step '{state.step.id}' ({state.step.title}) failed: {cause}")


class Engine:
    def __init__(self, ctx: Context, steps: list[Step]):
        self.ctx = ctx
        self.steps = steps
        self.listeners: list[Listener] = []

    def _emit(self, event: str, st: StepState) -> None:
        for listener in list(self.listeners):
            listener(event, st)

    def inspect(self, step: Step) -> StepState:
        """Look without changing anything: which of the step's actions still have work to do."""
        st = StepState(step)
        st.actions = step.build(self.ctx)
        st.pending = [a for a in st.actions if a.verify_only or not a.done(self.ctx)]
        if not st.pending:
            st.status = "done"
        elif st.changes:
            st.status = "todo"
        else:
            st.status = "check"
        return st

    def plan(self) -> list[StepState]:
        states = []
        for step in self.steps:
            st = self.inspect(step)
            states.append(st)
            self._emit("plan", st)
        return states

    def run_step(self, step: Step) -> StepState:
        self.ctx.journal.step = step.id
        st = StepState(step, status="running")
        self._emit("start", st)
        t0 = time.monotonic()
        self.ctx.runner.emit(f"== {step.id}: {step.title}")
        try:
            st.actions = step.build(self.ctx)
            changed = False
            for action in st.actions:
                if not action.verify_only and action.done(self.ctx):
                    continue
                self.ctx.runner.emit(f"-- {action.title}")
                action.apply(self.ctx)
                if not action.verify_only:
                    changed = True
                    self.ctx.record(action=action.title)
            st.status = "ok" if changed else "done"  # done: nothing to change (its checks still ran)
        except BaseException as e:  # noqa: BLE001 - reported, then re-raised
            st.status = "failed"
            st.error = str(e)
            st.seconds = time.monotonic() - t0
            self.ctx.runner.emit(f"!! {step.id} failed: {e}")
            self._emit("finish", st)
            raise StepFailed(st, e) from e
        st.seconds = time.monotonic() - t0
        self.ctx.runner.emit(f"== {step.id}: {st.status} in {st.seconds:.1f}s")
        self._emit("finish", st)
        return st

    def install(self, only: set[str] | None = None) -> list[StepState]:
        done = []
        for step in self.steps:
            if only and step.id not in only:
                continue
            done.append(self.run_step(step))
        return done


def make_context(answers: Answers, runner: Runner | None = None, *, dry_run: bool = False,
                 say: Callable[[str], None] = print, interactive: bool = False,
                 log_to_file: bool = True) -> Context:
    """The wiring both front ends use: redactor shared by runner, secrets and log file."""
    from .installlog import InstallLog
    from .runner import DryRunRunner

    layout = Layout(answers)
    redactor = runner.redactor if runner else Redactor()
    log = InstallLog(layout.install_log) if (log_to_file and not dry_run) else None
    if runner is None:
        runner = (DryRunRunner if dry_run else Runner)(redactor, log.write if log else None)
    secrets = Secrets(answers, layout, redactor, interactive=interactive)
    journal = Journal(None if dry_run else layout.state_dir / "journal.jsonl")
    return Context(answers, runner, secrets, journal, say=say, interactive=interactive)
