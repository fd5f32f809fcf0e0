"""A yes/no question over the current screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class Confirm(ModalScreen[bool]):
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str, **kw):
        super().__init__(**kw)
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(self.question)
            with Horizontal(classes="buttons"):
                yield Button("No (n)", id="no", compact=True)
                yield Button("Yes, stop (y)", id="yes", variant="error", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class AskPassword(ModalScreen[str | None]):
    """The admin password for the end-to-end check, when the wizard does not know it."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, user: str, **kw):
        super().__init__(**kw)
        self.user = user

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(f"Password of {self.user} for the login check (not stored):")
            yield Input(password=True, id="password", compact=True)
            with Horizontal(classes="buttons"):
                yield Button("Cancel", id="cancel", compact=True)
                yield Button("Check", id="ok", variant="primary", compact=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(self.query_one(Input).value or None if event.button.id == "ok" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
