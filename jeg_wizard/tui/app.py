"""The wizard app: Welcome -> Questions -> Plan -> Run -> Finish over the engine.

Everything that touches the machine comes in through `Wiring` (engine factory, fact detection,
health probes, the end-to-end check, the clock), so tests and screenshots inject a dry-run engine
and fixed facts, and `run()` wires the real ones.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from .. import distro, health, preflight
from ..answers import Answers, AnswersError, load
from ..engine import Engine, StepState, make_context
from . import answers_file, form
from . import facts as facts_mod
from .facts import Facts
from .probes import Probe, default_probes

DRY_RUN_ENV = "JEG_WIZARD_DRY_RUN"  # 1: the whole wizard against a recording runner (demo, tmux tries)


def real_engine(answers: Answers, *, dry_run: bool = False) -> Engine:
    from jeg_wizard.steps import STEPS

    # interactive=False: the TUI hands the password over itself; a getpass prompt would break the screen
    return Engine(make_context(answers, dry_run=dry_run, interactive=False), STEPS)


@dataclass
class Wiring:
    make_engine: Callable[[Answers], Engine] = real_engine
    detect_facts: Callable[[Answers], Facts] = facts_mod.detect
    probes: Callable[..., list[Probe]] = default_probes
    e2e: Callable[..., health.Smoke] = health.login_and_spark_job
    clock: Callable[[], float] = time.monotonic
    gate: Callable[[Answers, list], list[str]] = preflight.gate  # checks before Start; [] means go
    dist: distro.Distro | None = None  # None: detect (the Java rules depend on it)
    admin_exists: bool | None = None  # None: look the admin user up (password required if missing)
    answers_out: Path | None = None  # None: <state_dir>/answers.toml
    health_interval: float = 5.0
    facts: Facts | None = None  # known facts: no detection worker
    rehearsal: bool = False  # JEG_WIZARD_DRY_RUN: say so on every screen


class WizardApp(App[int]):
    CSS_PATH = "wizard.tcss"
    TITLE = "jeg-wizard"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS = [
        # Ctrl+C quits here (not copy): and quitting always stops the running commands first
        Binding("ctrl+c", "quit", "Quit", priority=True, show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
    ]

    def __init__(self, answers: Answers | None = None, wiring: Wiring | None = None, answers_source: str | None = None):
        super().__init__()
        self.answers = answers or Answers()
        self.wiring = wiring or Wiring()
        self.answers_source = answers_source
        self.facts: Facts | None = self.wiring.facts
        self.password: str | None = None  # typed in Questions; handed to the engine, never saved
        self.engine: Engine | None = None
        self._engine_for: Answers | None = None
        self.plan_states: list[StepState] | None = None
        self.run_status: dict[str, str] | None = None
        self.answers_saved: Path | None = None
        self.stopping = False
        self.farewell = ""
        self._questions = None
        self.rehearsal = self.wiring.rehearsal

    def on_mount(self) -> None:
        from .screens.welcome import WelcomeScreen

        self.push_screen(WelcomeScreen())

    # ---------------------------------------------------------------- navigation
    def show_questions(self) -> None:
        from .screens.questions import QuestionsScreen

        if self._questions is None:  # one instance: Back keeps what was typed
            self._questions = QuestionsScreen(form.initial_values(self.answers))
        self.push_screen(self._questions)

    def answers_accepted(self, answers: Answers, password: str | None) -> None:
        from .screens.plan import PlanScreen

        if self.engine is None or answers != self._engine_for:
            self.engine = self.wiring.make_engine(answers)
            self._engine_for = answers
        self.answers = answers
        self.password = password
        if password:
            self.engine.ctx.secrets.set_admin_password(password)
        self.plan_states = None
        self.push_screen(PlanScreen())

    def start_run(self) -> None:
        from .screens.run import RunScreen

        self.push_screen(RunScreen())

    def show_finish(self) -> None:
        from .screens.finish import FinishScreen

        self.switch_screen(FinishScreen())

    # ---------------------------------------------------------------- answers file
    def save_answers(self) -> Path | None:
        """Called from the run's worker thread."""
        path = self.wiring.answers_out or (self.engine.ctx.layout.state_dir / "answers.toml")
        try:
            self.answers_saved = answers_file.save(self.answers, path, password_typed=bool(self.password))
        except OSError as e:
            self.call_from_thread(
                self.notify, f"could not save the answers to {path}: {e.strerror}", severity="warning"
            )
            return None
        return self.answers_saved

    # ---------------------------------------------------------------- quitting
    def action_quit(self) -> None:  # type: ignore[override]  # sync on purpose: screens call it
        """Stop every running command first: no child outlives the wizard."""
        from .screens.run import RunScreen

        self.stopping = True
        if self.engine is not None:
            self.engine.ctx.runner.terminate_all()
        code = 0
        run = next((s for s in self.screen_stack if isinstance(s, RunScreen)), None)
        if run is not None:
            sid = run.stopped_at()
            if sid:
                code = 1
                log = self.engine.ctx.layout.install_log
                self.farewell = (
                    f"jeg-wizard: stopped at step '{sid}'. Run jeg-wizard again to resume: "
                    f"finished steps are skipped. Full log: {log}"
                )
        self.exit(code)


def build_app(answers: Answers | None = None, answers_source: str | None = None, **wiring) -> WizardApp:
    """The factory tests, screenshots and `run` use: answers plus any `Wiring` overrides."""
    return WizardApp(answers, Wiring(**wiring), answers_source=answers_source)


def _wait_for_children(engine: Engine | None, timeout: float = 5.0) -> None:
    """After quit: give terminate_all's TERM/KILL time to land before the process exits."""
    if engine is None:
        return
    runner = engine.ctx.runner
    runner.terminate_all()
    deadline = time.monotonic() + timeout
    while getattr(runner, "_procs", None) and time.monotonic() < deadline:
        time.sleep(0.05)


def run(answers_path: str | None) -> int:
    try:
        answers = load(answers_path) if answers_path else Answers()
    except AnswersError as e:
        print("jeg-wizard: the answers are not valid; nothing was changed:", file=sys.stderr)
        for p in e.problems:
            print(f"  - {p}", file=sys.stderr)
        return 2
    wiring = Wiring()
    if os.environ.get(DRY_RUN_ENV) == "1":
        # a rehearsal: the real steps, a runner that only records; the answers go to /tmp
        wiring.make_engine = lambda a: real_engine(a, dry_run=True)
        wiring.answers_out = Path("/tmp/jeg-wizard-dry-run/answers.toml")
        wiring.rehearsal = True
    app = WizardApp(answers, wiring, answers_source=answers_path)
    try:
        code = app.run()
    finally:
        _wait_for_children(app.engine)
    if app.farewell:
        print(app.farewell, file=sys.stderr)
    return code if isinstance(code, int) else 1
