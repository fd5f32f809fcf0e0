"""Questions: the answers file as a form, grouped like the README; validated by `answers.parse`,
each problem shown under its field; the form cannot go on while a problem remains."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Collapsible, Footer, Input, Label, Select, Static

from .. import form
from ..form import FIELDS, GROUPS, Field
from ..widgets import StageBar


def _error_id(path: str) -> str:
    return "e-" + path.replace(".", "-")


class QuestionsScreen(Screen):
    BINDINGS = [
        Binding("ctrl+n", "next", "Next"),
        Binding("escape", "back", "Back"),
        Binding("ctrl+e", "expand_all", "More settings"),
    ]

    def __init__(self, values: dict[str, Any], **kw):
        super().__init__(**kw)
        self.initial = values
        self.touched: set[str] = set()
        self.show_all = False  # after the first Next: every problem is shown

    # ---------------------------------------------------------------- layout
    def _field(self, f: Field) -> ComposeResult:
        v = self.initial.get(f.path, "")
        with Horizontal(classes="row"):
            yield Label(f.label, classes="label")
            if f.kind == "bool":
                yield Checkbox("yes" if v else "no", bool(v), id=f.widget_id, compact=True)
            elif f.kind == "choice":
                yield Select([(c, c) for c in f.choices], value=v if v in f.choices else f.choices[0],
                             allow_blank=False, id=f.widget_id, compact=True)
            else:
                yield Input(str(v), id=f.widget_id, compact=True, password=f.kind == "password",
                            placeholder=f.help if f.kind in ("text", "list", "password") else "")
        yield Static("", classes="error", id=_error_id(f.path))

    def compose(self) -> ComposeResult:
        yield StageBar("Questions")
        with VerticalScroll(id="form"):
            for g in GROUPS:
                with Vertical(classes="group", id=f"g-{g.name}"):
                    yield Static(f"[b]{g.title}[/b]  [dim]\\[{g.name}][/dim]", classes="heading")
                    yield Static("", classes="error", id=f"s-{g.name}")
                    for f in g.fields:
                        if not f.advanced:
                            yield from self._field(f)
                    if g.name == "gateway":
                        yield Static("Token: generated (64 hex characters) into the token file, mode 0600, "
                                     "by the gateway step and shared with the hub; never shown.",
                                     classes="note")
                    extra = [f for f in g.fields if f.advanced]
                    if extra:
                        with Collapsible(title=f"More {g.name} settings", collapsed=True, id=f"more-{g.name}"):
                            for f in extra:
                                yield from self._field(f)
        yield Static("", id="field-help")
        yield Static("", id="problems")
        with Horizontal(classes="buttons"):
            yield Button("◂ Back", id="back", compact=True)
            yield Button("Next ▸", id="next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#f-system-prefix").focus()

    # ---------------------------------------------------------------- values and problems
    def widget(self, path: str) -> Widget:
        return self.query_one("#" + FIELDS[path].widget_id)

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for path, f in FIELDS.items():
            w = self.widget(path)
            out[path] = w.value
        return out

    def check(self) -> tuple[Any, list[str]]:
        app = self.app
        answers, problems = form.validate(self.values(), base=app.answers, dist=app.wiring.dist,
                                          admin_exists=app.wiring.admin_exists)
        by_field, by_section, rest = form.route(problems)
        for path in FIELDS:
            msgs = by_field.get(path, []) if (self.show_all or path in self.touched) else []
            err = self.query_one("#" + _error_id(path), Static)
            err.update("✗ " + "; ".join(msgs) if msgs else "")
            err.display = bool(msgs)
            self.widget(path).set_class(bool(msgs), "invalid")
            if msgs:  # a problem inside a collapsed "More settings" must be visible
                for c in self.widget(path).ancestors:
                    if isinstance(c, Collapsible):
                        c.collapsed = False
        for g in GROUPS:
            msgs = by_section.get(g.name, []) if self.show_all else []
            s = self.query_one(f"#s-{g.name}", Static)
            s.update("✗ " + "; ".join(msgs) if msgs else "")
            s.display = bool(msgs)
        shown = [p for p in by_field if self.show_all or p in self.touched]
        summary = self.query_one("#problems", Static)
        if problems and self.show_all:
            where = ", ".join(shown + [f"[{s}]" for s in by_section]) or "see below"
            summary.update(f"✗ {len(problems)} answer{'s' * (len(problems) != 1)} to fix: {where}"
                           + ("".join(f"\n  {p}" for p in rest)))
        else:
            summary.update("")
        summary.display = bool(problems and self.show_all)
        return answers, problems

    def _path_of(self, w: Widget | None) -> str | None:
        if w is None or not w.id or not w.id.startswith("f-"):
            return None
        return next((p for p, f in FIELDS.items() if f.widget_id == w.id), None)

    # ---------------------------------------------------------------- events
    def on_descendant_focus(self, event) -> None:
        path = self._path_of(event.widget)
        if path:
            f = FIELDS[path]
            self.query_one("#field-help", Static).update(Text.assemble((path, "bold"), "  ", f.help))

    def on_descendant_blur(self, event) -> None:
        path = self._path_of(event.widget)
        if path:  # a field the operator has left shows its problems from now on
            self.touched.add(path)
            self.check()

    def on_input_changed(self, event: Input.Changed) -> None:
        path = self._path_of(event.input)
        # a field already marked wrong re-checks on every key, so the mark goes as soon as it is fixed
        if path and event.input.has_class("invalid"):
            self.check()

    def on_select_changed(self, event: Select.Changed) -> None:
        path = self._path_of(event.select)
        if path and event.value != self.initial.get(path):
            self.touched.add(path)
            self.check()

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        path = self._path_of(event.checkbox)
        if path:
            event.checkbox.label = "yes" if event.value else "no"  # the state in words, not only colour
            self.touched.add(path)
            self.check()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.focus_next()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            self.action_next()
        elif event.button.id == "back":
            self.action_back()

    # ---------------------------------------------------------------- actions
    def action_next(self) -> None:
        self.show_all = True
        answers, problems = self.check()
        if problems:
            first = next((self.widget(p) for p in FIELDS if self.widget(p).has_class("invalid")), None)
            if first is not None:
                first.focus()
                first.scroll_visible()
            self.app.bell()
            return
        self.app.answers_accepted(answers, self.values()[form.PASSWORD] or None)

    def action_back(self) -> None:
        self.app.pop_screen()

    def action_expand_all(self) -> None:
        for c in self.query(Collapsible):
            c.collapsed = not c.collapsed
