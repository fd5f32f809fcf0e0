"""README: `sudo -H pip3 install jupyterhub notebook jupyterlab` — in a venv of its own (PEP 668, and
JEG's pins would downgrade JupyterLab if they shared one)."""

from jeg_wizard.actions import Venv, command_check
from jeg_wizard.engine import Step
from jeg_wizard.releases import CURRENT

HUB_REQUIREMENTS = list(CURRENT.hub)  # the pins of every release set: jeg_wizard.releases


def build(ctx):
    venv = ctx.layout.hub_venv
    answers = command_check("jupyterhub -h answers", [str(venv / "bin" / "jupyterhub"), "--version"], "6.")
    # where the hub starts (the services step), that start proves it answers: this check took 2 s before it
    return [Venv(venv, ctx.answers.system.python, HUB_REQUIREMENTS), *([] if ctx.answers.services.start else [answers])]


STEP = Step(
    "hub",
    "Install JupyterHub, Notebook and JupyterLab",
    "sudo -H pip3 install jupyterhub notebook jupyterlab",
    build,
    roles=("all", "hub"),
    needs=("system",),
)
