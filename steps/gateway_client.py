"""README: `pip3 install nb2kg; jupyter serverextension enable --py nb2kg` — replaced by jupyter_server's
built-in GatewayClient (nb2kg cannot load in jupyter_server 2; the answers refuse it with the reason).

The client's URL and token reach each user server through the spawner's environment (hub_config
step); this step writes the user servers' jupyter_server_config.py, which carries the fix that
lets JupyterLab's kernel websocket work through JEG 3.3.0 (see the template).
"""

import json

from jeg_wizard import render
from jeg_wizard.actions import FileContent, command_check
from jeg_wizard.engine import Step

PROBE = "from jupyter_server.gateway.connections import GatewayWebSocketConnection; print('GatewayClient ok')"


def build(ctx):
    L = ctx.layout
    config = L.config_dir / "jupyter_server_config.py"
    return [
        command_check(
            "the user servers' jupyter_server has the built-in gateway client",
            [str(L.hub_venv / "bin" / "python"), "-c", PROBE],
            "GatewayClient ok",
        ),
        FileContent(
            config,
            lambda: render.render("jupyter_server_config.py.j2", render.context(L)),
            mode=0o644,
            validate=lambda t: render.check_python(t, str(config)),
        ),
        FileContent(L.lab_overrides, lambda: lab_overrides(ctx.answers.hub.lab_news), mode=0o644),
    ]


def lab_overrides(news: bool) -> str:
    """JupyterLab's site-wide settings: with news off, no "get notified about Jupyter news?" prompt greets
    every user and the page never asks the server for news or updates; on: Lab's own defaults (it asks)."""
    off = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}
    return json.dumps({} if news else off, indent=1) + "\n"


STEP = Step(
    "gateway_client",
    "Point the notebook servers at the gateway",
    "pip3 install nb2kg; serverextension enable",
    build,
    roles=("all", "hub"),
    needs=("hub",),
)
