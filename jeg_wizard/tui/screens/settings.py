"""Change settings, from the status screen: the questions pre-filled from the install's saved answers,
then the diff, then the change applied with its live log. The same functions as `jeg-wizard set`
(jeg_wizard.settings): keys `set` refuses are refused here with its reason, the change is planned by
`settings.prepare` (the answers' rules, the install's gate, what the change would do), shown by
`settings.render`, applied and rolled back by `settings.apply`; the saved answers change on success only."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from ... import settings
from ...answers import Answers, AnswersError, parse
from ...layout import Layout
from .. import form
from ..form import FIELDS, Field
from ..widgets import LogStream, StageBar
from .questions import QuestionsScreen

STAGES = ("Status", "Settings", "Diff", "Apply")


class Prepared(Message):
    def __init__(self, change: settings.Change | None, problems: list[str], values: dict[str, Any]):
        super().__init__()
        self.change, self.problems, self.values = change, problems, values


class SettingsScreen(QuestionsScreen):
    """The install's questions, pre-filled; Next plans the change (in a worker: it looks at every step)."""

    STAGE = "Settings"
    STAGES = STAGES
    HIDDEN = form.WIZARD_ONLY  # `set` never changes the admin's password
    BINDINGS = [
        Binding("ctrl+n", "next", "Diff"),
        Binding("escape", "back", "Back to status"),
        Binding("ctrl+e", "expand_all", "More settings"),
    ]

    def __init__(self, old: Answers, data: dict, **kw):
        super().__init__(form.initial_values(old), **kw)
        self.old, self.data = old, data  # the saved answers, as loaded and as written (its TOML data)
        self.new_data: dict | None = None
        self.preparing = False
        self.late: tuple[dict[str, Any], list[str]] | None = None  # prepare's problems, for these values
        self._prepared_data: dict = data

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#next", Button).label = "Diff ▸"
        self.query_one("#back", Button).label = "◂ Status"

    def help_for(self, f: Field) -> str:
        why = settings.refused_reason(f.path)
        return f"not changed by `set`: {why}" if why else f.help

    def validate(self, values: dict[str, Any]) -> tuple[Any, list[str]]:
        """The form's changes as `set`'s assignments: refused keys, then the answers' model."""
        typed = form.to_data(values, self.old)
        changed = {
            p: typed[f.section][f.key]
            for p, f in FIELDS.items()
            if p not in form.WIZARD_ONLY and values.get(p) != self.initial.get(p)
        }
        problems: list[str] = []
        try:  # the keys `set` refuses, with why
            settings.assign_values(self.data, changed)
        except AnswersError as e:
            problems += e.problems
        # and the others' problems at the same time, not one after the other
        data, _ = settings.assign_values(
            self.data, {k: v for k, v in changed.items() if not settings.refused_reason(k)}
        )
        try:
            new = parse(data)
        except AnswersError as e:
            problems += e.problems
        if problems:
            return None, problems
        if self.late and self.late[0] == values:  # what prepare said of these very values
            return None, self.late[1]
        self.new_data = data
        return new, []

    def action_next(self) -> None:
        self.late = None  # Next asks again: what prepare refused may hold no more (a port freed)
        super().action_next()

    def accepted(self, new: Answers) -> None:
        if not settings.changed_keys(self.old, new):
            self._say(f"{settings.NOTHING.capitalize()}.")
            return
        if self.preparing:
            return
        self.preparing = True
        self.query_one("#next", Button).disabled = True
        self._say("Looking at what the change does (every step of the install)…")
        values, app = self.values(), self.app
        self._prepared_data = self.new_data  # what is saved after a success: the saved file's data, changed
        self.run_worker(lambda: self._prepare(new, values, app), thread=True, exclusive=True, group="prepare")

    def _prepare(self, new: Answers, values: dict[str, Any], app) -> None:
        try:
            change = settings.prepare(self.old, new, app.settings_steps(app.layout.role), role=app.layout.role)
        except AnswersError as e:
            self.post_message(Prepared(None, e.problems, values))
            return
        except Exception as e:  # noqa: BLE001 - shown; nothing has changed yet
            self.post_message(Prepared(None, [f"could not look at the change: {type(e).__name__}: {e}"], values))
            return
        self.post_message(Prepared(change, [], values))

    def on_prepared(self, msg: Prepared) -> None:
        self.preparing = False
        self.query_one("#next", Button).disabled = False
        if msg.change is None:
            self.late = (msg.values, msg.problems)
            self.check()  # routed to their fields, the rest listed
            self.app.bell()
            return
        self.late = None
        self._say("")
        self.app.push_screen(DiffScreen(msg.change, self._prepared_data))

    def _say(self, text: str) -> None:
        box = self.query_one("#problems", Static)
        self.shown["problems"] = text
        box.update(Text(text))
        box.display = bool(text)

    def action_back(self) -> None:
        self.app.settings_done()


def diff_text(change: settings.Change) -> Text:
    """The keys, then settings.render's diff: added lines green, removed red (plain text: no markup)."""
    out = Text()
    for line in settings.assignments(change):
        out.append(line + "\n", style="bold")
    for line in settings.render(change).splitlines():
        style = ""
        if line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        elif line.startswith(("# ", "restart:", "left running:")):
            style = "bold"
        out.append(line + "\n", style=style)
    out.rstrip()
    return out


class DiffScreen(Screen):
    """What the change does; nothing has changed yet."""

    BINDINGS = [
        Binding("a", "apply", "Apply"),
        Binding("escape", "back", "Back"),
        Binding("n", "cancel", "Cancel"),
    ]

    def __init__(self, change: settings.Change, data: dict, **kw):
        super().__init__(**kw)
        self.change, self.data = change, data

    def compose(self) -> ComposeResult:
        yield StageBar("Diff", STAGES)
        yield Static(
            "Nothing has changed yet. Apply writes these files (each backed up first), restarts only these "
            "services and checks their health; a failure puts all of it back.",
            classes="note",
        )
        with VerticalScroll(id="diff"):
            yield Static(diff_text(self.change), id="diff-text")
        with Horizontal(classes="buttons"):
            yield Button("◂ Back", id="back", compact=True)
            yield Button("Cancel (n)", id="cancel", compact=True)
            yield Button("Apply (a)", id="apply", variant="warning", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#apply", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        {"back": self.action_back, "cancel": self.action_cancel, "apply": self.action_apply}[event.button.id or ""]()

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_cancel(self) -> None:
        self.app.settings_done("Nothing was changed.")

    def action_apply(self) -> None:
        self.app.switch_screen(ApplyScreen(self.change, self.data))


class Applied(Message):
    def __init__(self, outcome: settings.Outcome, seconds: float, saved: str):
        super().__init__()
        self.outcome, self.seconds, self.saved = outcome, seconds, saved


class ApplyScreen(Screen):
    """settings.apply in a worker thread, its lines live; then success, or the rollback naming what failed."""

    BINDINGS = [Binding("enter,escape", "done", "Back to status"), Binding("q", "done", "Back to status")]

    def __init__(self, change: settings.Change, data: dict, **kw):
        super().__init__(**kw)
        self.change, self.data = change, data
        self.outcome: settings.Outcome | None = None
        self._unsubscribe = None

    def compose(self) -> ComposeResult:
        yield StageBar("Apply", STAGES)
        yield Static(f"Applying: {', '.join(self.change.keys)}…", id="apply-label")
        yield LogStream(id="apply-log")
        yield Static("", id="apply-result")
        with Horizontal(id="apply-done", classes="buttons"):
            yield Button("Back to status ▸", id="done", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#apply-result").display = False
        self.query_one("#apply-done").display = False
        self._unsubscribe = self.change.new.runner.subscribe(self.query_one(LogStream).feed)
        self.run_worker(self._apply, thread=True, exclusive=True, group="apply")

    def on_unmount(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()

    def _apply(self) -> None:
        t0 = time.monotonic()
        saved = ""
        try:
            outcome = settings.apply(self.change, verify=False)
        except Exception as e:  # noqa: BLE001 - apply rolls back what it can; said, not a crash
            outcome = settings.Outcome(False, f"  {type(e).__name__}: {e}", put_back=False)
        if outcome.ok:
            layout = Layout(self.change.new.answers)
            settings.save_answers(layout, self.data)
            saved = str(layout.saved_answers)
        self.post_message(Applied(outcome, time.monotonic() - t0, saved))

    def on_applied(self, msg: Applied) -> None:
        self.outcome = msg.outcome
        self.query_one(LogStream).flush()
        if msg.outcome.ok:
            head = Text(f"✓ Settings changed in {msg.seconds:.1f}s; {msg.outcome.message}", style="bold green")
            text = head + Text(f"\nsaved answers: {msg.saved}")
            label = Text("done", style="bold green")
        else:
            text = Text(settings.failure(msg.outcome), style="bold red")
            label = Text("failed; rolled back", style="bold red")
        self.query_one("#apply-label", Static).update(label)
        result = self.query_one("#apply-result", Static)
        result.update(text)
        result.display = True
        self.query_one("#apply-done").display = True
        self.query_one("#done", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "done":
            self.action_done()

    def action_done(self) -> None:
        if self.outcome is None:
            self.notify("Applying: wait for the end (a failure is put back)", severity="warning")
            return
        self.app.settings_done()
