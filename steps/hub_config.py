"""README: `sudo mkdir /etc/jupyter`, write jupyterhub_config.py (admin_users, env for the spawner).

Rendered from templates/ and compiled before it is written. The gateway URL and token reach the
user servers through c.Spawner.environment (/etc/environment does not: no PAM session).
The cookie secret and the proxy token are generated into 0600 files; the LDAP service password or the
OIDC client secret is copied into one (the config reads it at start: never in the config itself).
"""

from jeg_wizard import render
from jeg_wizard.actions import Directory, FileContent, secret_file
from jeg_wizard.engine import Step


def hub_env_file(ctx):
    return ctx.layout.hub_env_file


def build(ctx):
    L = ctx.layout
    return [
        Directory(L.config_dir, 0o755),
        Directory(L.state_dir, 0o711),
        Directory(L.hub_state_dir, 0o700),
        Directory(L.services_dir, 0o700),
        secret_file(L.cookie_secret_file, ctx.secrets.cookie_secret),
        secret_file(L.proxy_token_file, ctx.secrets.proxy_token),
        *([secret_file(L.signin_secret_file, ctx.secrets.signin_secret)] if L.signin_secret_file else []),
        FileContent(
            hub_env_file(ctx), lambda: f"CONFIGPROXY_AUTH_TOKEN={ctx.secrets.proxy_token()}\n", mode=0o600, secret=True
        ),
        FileContent(
            L.hub_config,
            lambda: render.render("jupyterhub_config.py.j2", render.context(L)),
            validate=lambda t: render.check_python(t, str(L.hub_config)),
        ),
    ]


STEP = Step(
    "hub_config",
    "Write the hub configuration",
    "sudo vim /etc/jupyter/jupyterhub_config.py",
    build,
    roles=("all", "hub"),
    needs=("gateway", "join"),
)
