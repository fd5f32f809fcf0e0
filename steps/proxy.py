"""README: `sudo apt-get install nodejs npm; sudo npm install -g configurable-http-proxy`.

Installed under the prefix (not -g), in the release that runs on the node present.
"""

from jeg_wizard import distro
from jeg_wizard.actions import AptInstall, NpmInstall, command_check
from jeg_wizard.engine import Step


def proxy_version(ctx) -> str:
    v = ctx.answers.proxy.version
    return distro.proxy_version_for(distro.node_major()) if v == "auto" else v


def node_packages(ctx) -> list[str]:
    """node (and npm to install the proxy); from a bundle the proxy comes installed: no npm."""
    pkgs = distro.node_packages()
    return [p for p in pkgs if p != "npm"] if ctx.bundle else pkgs


def build(ctx):
    actions = [AptInstall(pkgs)] if (pkgs := node_packages(ctx)) else []
    L = ctx.layout
    actions += [
        NpmInstall(L.proxy_prefix, "configurable-http-proxy", proxy_version(ctx)),
        command_check("configurable-http-proxy answers --version", [str(L.proxy_bin), "--version"], proxy_version(ctx)),
    ]
    return actions


STEP = Step(
    "proxy",
    "Install node and configurable-http-proxy",
    "sudo npm install -g configurable-http-proxy",
    build,
    roles=("all", "hub"),
    needs=("system",),
)
