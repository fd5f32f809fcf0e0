"""README: `pip3 install nb2kg; jupyter serverextension enable --py nb2kg` — replaced by jupyter_server's
built-in GatewayClient (nb2kg cannot load in jupyter_server 2; the answers refuse it with the reason).
The client is configured per user server through the spawner's environment (hub_config step)."""
from jeg_wizard.actions import command_check
from jeg_wizard.engine import Step

PROBE = "from jupyter_server.gateway.gateway_client import GatewayClient; print('GatewayClient', GatewayClient.url.default_value is None)"


def build(ctx):
    py = str(ctx.layout.hub_venv / "bin" / "python")
    return [command_check("the user servers' jupyter_server has the built-in GatewayClient", [py, "-c", PROBE], "GatewayClient")]


STEP = Step("gateway_client", "Point the notebook servers at the gateway", "pip3 install nb2kg; serverextension enable", build)
