"""Welcome: what will be installed, and what this machine has now (detected in a worker)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Static

from ...answers import Answers
from ..facts import Facts
from ..widgets import StageBar


def stack(a: Answers) -> Table:
    try:
        from jeg_wizard.steps.gateway import GATEWAY_REQUIREMENTS
        from jeg_wizard.steps.hub import HUB_REQUIREMENTS

        gateway = GATEWAY_REQUIREMENTS[0].replace("jupyter_enterprise_gateway==", "")
        # what is installed, not the caps on its dependencies (releases.QUICK_START)
        hub = ", ".join(r.replace("==", " ").replace(".*", "") for r in HUB_REQUIREMENTS if "==" in r)
    except ImportError:  # a build without the steps package: names only
        gateway, hub = "", "jupyterhub, jupyterlab, notebook"
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    t.add_row("Java", f"OpenJDK {a.java.version} (apt)")
    t.add_row("Spark", f"{a.spark.version} from {a.spark.source}, master {a.spark.master}, under {a.system.prefix}")
    t.add_row("Gateway", f"Jupyter Enterprise Gateway {gateway} on {a.gateway.ip}:{a.gateway.port} (token)")
    t.add_row("Hub", f"{hub} on {a.hub.ip}:{a.hub.port}")
    t.add_row("Proxy", f"configurable-http-proxy ({a.proxy.version}), API on port {a.proxy.api_port}")
    others = [name for name, on in (("Scala (Toree)", a.kernels.scala), ("R (IRkernel)", a.kernels.r)) if on]
    t.add_row("Kernel", f"{a.kernels.display_name} ({a.kernels.name})" + "".join(f", {o}" for o in others))
    return t


def machine(f: Facts | None) -> Table | Text:
    if f is None:
        return Text("detecting…", style="dim italic")
    t = Table.grid(padding=(0, 1))
    t.add_column(style="bold", no_wrap=True)
    t.add_column()
    t.add_row("System", f.distribution)
    t.add_row("Python", f.python)
    t.add_row("Java", f.java)
    t.add_row("Node", f.node)
    t.add_row("Services", "systemd is running" if f.systemd else "no systemd: supervised processes")
    t.add_row("User", "root" if f.root else Text("not root: the install needs sudo", style="bold red"))
    t.add_row(
        "Ports",
        Text("in use: " + ", ".join(f.ports_in_use), style="yellow")
        if f.ports_in_use
        else "gateway, hub and proxy ports are free",
    )
    if f.notes:  # what this distribution changed in the install
        t.add_row("Chosen here", "\n".join(f.notes))
    if f.earlier:
        steps = ", ".join(f.earlier.steps) or "none yet"
        t.add_row("Earlier", f"an install of ours ({f.earlier.journal}); steps that made changes: {steps}")
    else:
        t.add_row("Earlier", "no earlier install of ours")
    return t


class WelcomeScreen(Screen):
    BINDINGS = [Binding("enter,n", "next", "Next"), Binding("q", "app.quit", "Quit")]

    class Detected(Message):
        def __init__(self, facts: Facts):
            super().__init__()
            self.facts = facts

    def compose(self) -> ComposeResult:
        a = self.app.answers
        yield StageBar("Welcome")
        with VerticalScroll(id="welcome"):
            yield Static(
                "Installs JupyterHub, Jupyter Enterprise Gateway and Spark here, step by step as "
                "the README does. Nothing changes before you press Start.",
                classes="lead",
            )
            yield Static("[b]What will be installed[/b]", classes="heading")
            yield Static(stack(a), id="stack")
            yield Static("[b]This machine[/b]", classes="heading")
            yield Static(machine(self.app.facts), id="machine")
            if self.app.answers_source:
                yield Static(f"Answers pre-filled from {self.app.answers_source}", classes="note")
        with Horizontal(classes="buttons"):
            yield Button("Quit", id="quit", compact=True)
            yield Button("Next ▸", id="next", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#next", Button).focus()
        if self.app.facts is None:
            self.detect()

    @work(thread=True, exclusive=True)
    def detect(self) -> None:
        self.post_message(self.Detected(self.app.wiring.detect_facts(self.app.answers)))

    def on_welcome_screen_detected(self, msg: Detected) -> None:
        self.app.facts = msg.facts
        self.query_one("#machine", Static).update(machine(msg.facts))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "next":
            self.action_next()
        elif event.button.id == "quit":
            self.app.action_quit()

    def action_next(self) -> None:
        self.app.show_questions()
