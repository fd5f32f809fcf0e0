"""README: `pip3 install nb2kg; jupyter serverextension enable --py nb2kg` — hub.gateway_client chooses.

builtin (the default): jupyter_server's built-in GatewayClient, the maintained successor of nb2kg, in the hub
venv's user servers; this step writes their jupyter_server_config.py, which carries the fix that lets
JupyterLab's kernel websocket work through JEG 3.3.0 (see the template).

nb2kg: the README's client. nb2kg 0.7 needs the classic Notebook 5.7 (it cannot load in jupyter_server 2), so
it gets a venv of its own (Layout.nb2kg_venv) with JupyterHub 3.1's jupyterhub-singleuser, which the hub
spawns instead (hub config). `serverextension enable --sys-prefix` is the JSON file it would write, plus
the three manager classes nb2kg replaces; `serverextension list` then proves it loads.

Either way the URL and token reach each user server through the spawner's environment (hub_config step).
"""

import json

from jeg_wizard import render
from jeg_wizard.actions import FileContent, Venv, command_check
from jeg_wizard.engine import Step
from jeg_wizard.releases import NB2KG_REQUIREMENTS

PROBE = "from jupyter_server.gateway.connections import GatewayWebSocketConnection; print('GatewayClient ok')"

# `jupyter serverextension list` for the venv's own config (its colours make its output a poor thing to match)
NB2KG_PROBE = (
    "import os, sys; from notebook.config_manager import BaseJSONConfigManager as M; "
    "from notebook.serverextensions import validate_serverextension as v; "
    "c = M(config_dir=os.path.join(sys.prefix, 'etc', 'jupyter')).get('jupyter_notebook_config'); "
    "import nb2kg.managers; "
    "print('nb2kg enabled and loads' if c['NotebookApp']['nbserver_extensions'].get('nb2kg') and not v('nb2kg') "
    "else 'nb2kg is not enabled or does not load')"
)

# what `jupyter serverextension enable --py nb2kg --sys-prefix` writes, and the managers nb2kg's README names
NB2KG_CONFIG = {
    "NotebookApp": {
        "nbserver_extensions": {"nb2kg": True},
        "session_manager_class": "nb2kg.managers.SessionManager",
        "kernel_manager_class": "nb2kg.managers.RemoteKernelManager",
        "kernel_spec_manager_class": "nb2kg.managers.RemoteKernelSpecManager",
    }
}

# nb2kg 0.7 hands KG_CLIENT_CA to tornado only beside a client certificate (KG_CLIENT_CERT/KEY), for its HTTP
# calls (managers.load_connection_args) and its kernel websocket (handlers builds its HTTPRequest itself); the
# gateway's TLS (gateway.tls) has a private CA and no client certificates, so this passes the CA on its own.
NB2KG_TLS_SHIM = """\
# Written by jeg-wizard: nb2kg 0.7 uses KG_CLIENT_CA only together with a client certificate; verify the
# gateway against its CA without one, for HTTP calls and the kernel websocket alike.
import os

if os.environ.get("KG_CLIENT_CA") and not os.environ.get("KG_CLIENT_CERT"):
    import nb2kg.handlers as _handlers
    import nb2kg.managers as _managers
    from tornado.httpclient import HTTPRequest as _HTTPRequest

    _CA = os.environ["KG_CLIENT_CA"]
    _load = _managers.load_connection_args

    def _with_ca(**kwargs):
        kwargs.setdefault("ca_certs", _CA)
        return _load(**kwargs)

    def _request_with_ca(url, **kwargs):
        kwargs.setdefault("ca_certs", _CA)
        return _HTTPRequest(url, **kwargs)

    _managers.load_connection_args = _with_ca
    _handlers.HTTPRequest = _request_with_ca
"""


def build(ctx):
    L = ctx.layout
    config = L.config_dir / "jupyter_server_config.py"
    actions = [
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
    if ctx.answers.hub.gateway_client == "nb2kg":
        actions += nb2kg(ctx)
    return actions


def nb2kg(ctx):
    """The classic notebook with nb2kg, all in its venv: the hub config switches to it only after this step."""
    venv = ctx.layout.nb2kg_venv
    etc = venv / "etc" / "jupyter"
    return [
        Venv(venv, ctx.answers.system.python, list(NB2KG_REQUIREMENTS)),
        FileContent(etc / "jupyter_notebook_config.json", json.dumps(NB2KG_CONFIG, indent=2) + "\n", mode=0o644),
        FileContent(
            etc / "jupyter_notebook_config.py",
            NB2KG_TLS_SHIM,
            mode=0o644,
            validate=lambda t: render.check_python(t, "jupyter_notebook_config.py"),
        ),
        command_check(
            "nb2kg is enabled in the venv and loads (jupyter serverextension list)",
            [str(venv / "bin" / "python"), "-c", NB2KG_PROBE],
            "nb2kg enabled and loads",
        ),
        command_check(
            "jupyterhub-singleuser wraps the classic notebook",
            [str(venv / "bin" / "jupyterhub-singleuser"), "--version"],
            "5.7.",
        ),
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
