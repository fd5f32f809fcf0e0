"""Plan: every step as detected on this machine (done / to do / check); the highlighted step's
exact commands and file diffs, secrets masked. Looking changes nothing. The gate (preflight) runs
with the plan: its problems are listed here and Start stays disabled until they are fixed (Back,
change the answers, come back: the gate runs again)."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, LoadingIndicator, Static

from ...engine import StepState
from ..widgets import StageBar, StepList


def preview_text(st: StepState, ctx) -> Text:
    """The step's pending actions: title, then argv lines and diffs (coloured, masked)."""
    red = ctx.runner.redactor
    t = Text()
    t.append(f"{st.step.id}", style="bold")
    t.append(f" — {st.step.title}\n")
    t.append(f"README: {st.step.readme}\n", style="dim")
    if not st.pending:
        t.append("\nNothing to do: its end state already holds here.\n", style="green")
        return t
    for action in st.pending:
        t.append(f"\n• {red(action.title)}\n", style="bold")
        try:
            lines = action.preview(ctx)
        except Exception as e:  # noqa: BLE001 - a preview that cannot be computed is shown as such
            lines = [f"# (cannot preview: {e})"]
        for line in lines:
            for sub in line.rstrip("\n").splitlines():
                sub = red(sub)
                style = ""
                if sub.startswith(("+++", "---")):
                    style = "bold"
                elif sub.startswith("+"):
                    style = "green"
                elif sub.startswith("-"):
                    style = "red"
                elif sub.startswith("@@"):
                    style = "cyan"
                elif sub.startswith("#"):
                    style = "dim"
                t.append(f"  {sub}\n", style=style)
    return t


class PlanScreen(Screen):
    BINDINGS = [Binding("s", "start", "Start install"), Binding("escape", "back", "Back")]

    class Planned(Message):
        def __init__(
            self, states: list[StepState], previews: dict[str, Text], error: str = "", problems: list[str] | None = None
        ):
            super().__init__()
            self.states, self.previews, self.error = states, previews, error
            self.problems = problems or []

    def __init__(self, **kw):
        super().__init__(**kw)
        self.states: list[StepState] = []
        self.previews: dict[str, Text] = {}
        self.problems: list[str] | None = None  # None: the gate has not answered yet

    def compose(self) -> ComposeResult:
        yield StageBar("Plan")
        yield Static("Looking at this machine: which steps are done, which have work to do…", id="plan-summary")
        yield Static("", id="plan-gate")
        with Horizontal(id="plan-body"):
            yield StepList(id="plan-steps")
            with VerticalScroll(id="plan-detail"):
                yield LoadingIndicator()
                yield Static("", id="plan-preview")
        with Horizontal(classes="buttons"):
            yield Button("◂ Back", id="back", compact=True)
            yield Button("Start install ▸", id="start", variant="success", compact=True, disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.make_plan()

    @work(thread=True, exclusive=True)
    def make_plan(self) -> None:
        engine = self.app.engine
        try:
            states = engine.plan()
            previews = {st.step.id: preview_text(st, engine.ctx) for st in states}
            error = ""
        except Exception as e:  # noqa: BLE001 - shown; the operator goes back and fixes the answers
            states, previews, error = [], {}, f"{type(e).__name__}: {e}"
        try:  # the same gate `install` runs (some checks ask the package index: a thread, not the UI)
            problems = self.app.wiring.gate(self.app.answers, engine.steps)
        except Exception as e:  # noqa: BLE001 - a gate that cannot run must not let the run start
            problems = [f"the checks before any change could not run: {type(e).__name__}: {e}"]
        self.post_message(self.Planned(states, previews, error, problems))

    def show_problems(self, problems: list[str]) -> None:
        gate = self.query_one("#plan-gate", Static)
        gate.display = bool(problems)
        if not problems:
            return
        head = (
            "Rehearsal: a real run would stop here; " if self.app.rehearsal else "Cannot start; nothing has changed. "
        )
        t = Text(f"✗ {head}Back (Esc), fix these, come back:\n", style="bold")
        t.append("\n".join(f"  - {p}" for p in problems))
        gate.update(t)

    @property
    def may_start(self) -> bool:
        """The plan is made and the gate passed (a rehearsal only shows the gate's problems)."""
        return bool(self.states) and self.problems is not None and (not self.problems or self.app.rehearsal)

    def on_plan_screen_planned(self, msg: Planned) -> None:
        self.query_one(LoadingIndicator).display = False
        self.problems = msg.problems
        self.show_problems(msg.problems)
        if msg.error:
            self.query_one("#plan-summary", Static).update(
                Text(f"✗ The plan could not be made: {msg.error}", style="bold red")
            )
            return
        self.states, self.previews = msg.states, msg.previews
        self.app.plan_states = msg.states
        steps = self.query_one(StepList)
        steps.set_steps([(st.step.id, st.status) for st in msg.states])
        counts = {k: sum(1 for s in msg.states if s.status == k) for k in ("todo", "check", "done")}
        self.query_one("#plan-summary", Static).update(
            f"{len(msg.states)} steps: {counts['todo']} to do, {counts['check']} only checking, "
            f"{counts['done']} done. Nothing has changed yet. ↑↓: each step's commands and diffs."
        )
        self.query_one("#start", Button).disabled = not self.may_start
        steps.focus()
        if msg.states:
            self.show(msg.states[0].step.id)
        self.refresh_bindings()

    def show(self, sid: str) -> None:
        self.query_one("#plan-preview", Static).update(self.previews.get(sid, ""))
        self.query_one("#plan-detail").scroll_home(animate=False)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value in self.previews:
            self.show(event.row_key.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()
        elif event.button.id == "back":
            self.action_back()

    def check_action(self, action: str, parameters) -> bool | None:
        if action == "start":
            return self.may_start or None
        return True

    def action_start(self) -> None:
        if self.may_start:
            self.app.start_run()

    def action_back(self) -> None:
        self.app.pop_screen()
