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

BY_WIDGET_ID = {f.widget_id: p for p, f in FIELDS.items()}


def _error_id(path: str) -> str:
    return "e-" + path.replace(".", "-")


class QuestionsScreen(Screen):
    BINDINGS = [
        Binding("ctrl+n", "next", "Next"),
        Binding("escape", "back", "Back"),
        Binding("ctrl+e", "expand_all", "More settings"),
    ]

    STAGE = "Questions"
    STAGES: tuple[str, ...] | None = None  # None: the install's (StageBar.STAGES)
    HIDDEN: frozenset[str] = frozenset()  # fields this form does not ask

    def __init__(self, values: dict[str, Any], **kw):
        super().__init__(**kw)
        self.initial = values
        self.touched: set[str] = set()
        self.show_all = False  # after the first Next: every problem is shown
        self.mounted_more: set[str] = set()
        self.shown: dict[str, str] = {}  # error line by widget id, as on screen now
        self._widgets: dict[str, Widget | None] = {}  # field widgets (DOM queries per key are slow)
        self._errors: dict[str, Static] = {}

    # ---------------------------------------------------------------- layout
    def _field(self, f: Field):
        """A row (label + input) and the error line under it."""
        v = self.initial.get(f.path, "")
        if f.kind == "bool":
            w: Widget = Checkbox("yes" if v else "no", bool(v), id=f.widget_id, compact=True)
        elif f.kind == "choice":
            w = Select(
                [(c, c) for c in f.choices],
                value=v if v in f.choices else f.choices[0],
                allow_blank=False,
                id=f.widget_id,
                compact=True,
            )
        else:
            w = Input(
                str(v),
                id=f.widget_id,
                compact=True,
                password=f.kind == "password",
                placeholder=f.help if f.kind in ("text", "list", "password") else "",
            )
        yield Horizontal(Label(f.label, classes="label"), w, classes="row")
        yield Static("", classes="error", id=_error_id(f.path))

    def compose(self) -> ComposeResult:
        yield StageBar(self.STAGE, self.STAGES)
        with VerticalScroll(id="form"):
            for g in GROUPS:
                with Vertical(classes="group", id=f"g-{g.name}"):
                    yield Static(f"[b]{g.title}[/b]  [dim]\\[{g.name}][/dim]", classes="heading")
                    yield Static("", classes="error section-error", id=f"s-{g.name}")
                    for f in g.fields:
                        if not f.advanced and f.path not in self.HIDDEN:
                            yield from self._field(f)
                    if g.name == "gateway":
                        yield Static(
                            "Token: generated (64 hex characters) into the token file, mode 0600, "
                            "by the gateway step and shared with the hub; never shown.",
                            classes="note",
                        )
                    if any(f.advanced for f in g.fields):
                        # mounted when first opened: half the fields, a much quicker screen
                        yield Collapsible(title=f"More {g.name} settings", collapsed=True, id=f"more-{g.name}")
        yield Static("", id="field-help")
        yield Static("", id="problems")
        with Horizontal(classes="buttons"):
            yield Button("◂ Back", id="back", compact=True)
            yield Button("Next ▸", id="next", variant="primary", compact=True)
        yield Footer()

    async def open_more(self, section: str) -> None:
        """Mount a section's advanced fields (once) and open them."""
        c = self.query_one(f"#more-{section}", Collapsible)
        if section not in self.mounted_more:
            self.mounted_more.add(section)
            group = next(g for g in GROUPS if g.name == section)
            rows: list[Widget] = []
            for f in group.fields:
                if f.advanced and f.path not in self.HIDDEN:
                    rows += list(self._field(f))
            await c.query_one(Collapsible.Contents).mount_all(rows)
            self._widgets = {p: w for p, w in self._widgets.items() if w is not None}  # look again
        c.collapsed = False

    def on_collapsible_expanded(self, event: Collapsible.Expanded) -> None:
        section = (event.collapsible.id or "").removeprefix("more-")
        if section and section not in self.mounted_more:
            self.run_worker(self.open_more(section))

    def on_mount(self) -> None:
        self.query_one("#f-system-prefix").focus()

    # ---------------------------------------------------------------- values and problems
    def widget(self, path: str) -> Widget | None:
        if path not in self._widgets:
            found = self.query("#" + FIELDS[path].widget_id)
            self._widgets[path] = found.first() if found else None
        return self._widgets[path]

    def values(self) -> dict[str, Any]:
        """What the form says; advanced fields never opened keep their initial values."""
        out: dict[str, Any] = {}
        for path in FIELDS:
            w = self.widget(path)
            out[path] = w.value if w is not None else self.initial.get(path, "")
        return out

    def _show(self, error_id: str, msgs: list[str], field: Widget | None = None) -> None:
        text = "✗ " + "; ".join(msgs) if msgs else ""
        if self.shown.get(error_id, "") == text:
            return  # restyling ~100 widgets on every key is what makes a form slow
        self.shown[error_id] = text
        err = self._errors.get(error_id) or self._errors.setdefault(error_id, self.query_one("#" + error_id, Static))
        err.update(Text(text))  # plain text: a value like local[*] is not markup
        err.display = bool(text)
        if field is not None:
            field.set_class(bool(text), "invalid")

    def validate(self, values: dict[str, Any]) -> tuple[Any, list[str]]:
        """(answers, []) when the values are valid, else every problem (each starting with its key)."""
        app = self.app
        return form.validate(values, base=app.answers, dist=app.wiring.dist, admin_exists=app.wiring.admin_exists)

    def help_for(self, f: Field) -> str:
        return f.help

    def check(self) -> tuple[Any, list[str]]:
        answers, problems = self.validate(self.values())
        by_field, by_section, rest = form.route(problems)
        for path, f in FIELDS.items():
            msgs = by_field.get(path, []) if (self.show_all or path in self.touched) else []
            w = self.widget(path)
            if w is None:
                if msgs:  # a problem in a never-opened "More settings": open it, then show it
                    self.run_worker(self._open_and_check(f.section))
                continue
            self._show(_error_id(path), msgs, w)
            if msgs:
                for c in w.ancestors:
                    if isinstance(c, Collapsible):
                        c.collapsed = False
        for g in GROUPS:
            self._show(f"s-{g.name}", by_section.get(g.name, []) if self.show_all else [])
        shown = [p for p in by_field if self.show_all or p in self.touched]
        summary = ""
        if problems and self.show_all:
            where = ", ".join(shown + [f"[{s}]" for s in by_section]) or "see below"
            summary = f"✗ {len(problems)} answer{'s' * (len(problems) != 1)} to fix: {where}" + "".join(
                f"\n  {p}" for p in rest
            )
        if self.shown.get("problems") != summary:
            self.shown["problems"] = summary
            box = self.query_one("#problems", Static)
            box.update(Text(summary))
            box.display = bool(summary)
        return answers, problems

    async def _open_and_check(self, section: str) -> None:
        await self.open_more(section)
        self.check()

    def _path_of(self, w: Widget | None) -> str | None:
        if w is None or not w.id or not w.id.startswith("f-"):
            return None
        return BY_WIDGET_ID.get(w.id)

    # ---------------------------------------------------------------- events
    def on_descendant_focus(self, event) -> None:
        path = self._path_of(event.widget)
        if path:
            f = FIELDS[path]
            self.query_one("#field-help", Static).update(Text.assemble((path, "bold"), "  ", self.help_for(f)))

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
            first = next((w for p in FIELDS if (w := self.widget(p)) is not None and w.has_class("invalid")), None)
            if first is not None:
                first.focus()
                first.scroll_visible()
            self.app.bell()
            return
        self.accepted(answers)

    def accepted(self, answers) -> None:
        self.app.answers_accepted(answers, self.values()[form.PASSWORD] or None)

    def action_back(self) -> None:
        self.app.pop_screen()

    async def action_expand_all(self) -> None:
        opening = any(c.collapsed for c in self.query(Collapsible))
        for c in self.query(Collapsible):
            if opening:
                await self.open_more((c.id or "").removeprefix("more-"))
            else:
                c.collapsed = True
