"""What reaches the user servers: the environment the hub config hands to the next one (read from the
file as Python, expected from the render context), and what the running ones really have."""

from __future__ import annotations

import pwd
from dataclasses import replace

from . import processes as proc
from .configs import Code
from .finding import Finding, ok, problem, unknown
from .install import Install

C = "user servers"


def from_config(site: Install) -> list[Finding]:
    cfg = site.config("hub")
    if cfg is None or cfg.error:
        return [
            problem(
                C,
                "gateway settings",
                f"{site.L.hub_config} is missing or unreadable{': ' + cfg.error if cfg else ''}: "
                "user servers get no gateway settings",
                "re-run the install (hub_config step)",
            )
        ]
    env = cfg.get("Spawner.environment", {})
    env = {k: "(computed)" if isinstance(v, Code) else str(v) for k, v in env.items()} if isinstance(env, dict) else {}
    return gateway_env(site, env, "the hub config", from_config=True)


def running(site: Install) -> list[Finding]:
    out = []
    for pid in proc.running(str(site.L.singleuser))[:5]:
        uid = proc.uid(pid)
        try:
            who = pwd.getpwuid(uid).pw_name if uid is not None else "?"
        except KeyError:
            who = str(uid)
        out += gateway_env(site, proc.environ(pid), f"{who}'s running server (pid {pid})")
    return out


def gateway_env(site: Install, env: dict, where: str, from_config: bool = False) -> list[Finding]:
    want = site.context["gateway"]  # what the install gives them: the same values the files come from
    out = []
    # hub.gateway_client: which client's variables (nb2kg reads KG_*, jupyter_server JUPYTER_GATEWAY_*)
    nb2kg = site.context["hub"]["nb2kg"]
    var = (
        {"url": "KG_URL", "token": "KG_AUTH_TOKEN", "timeout": "KG_REQUEST_TIMEOUT"}
        if nb2kg
        else {
            "url": "JUPYTER_GATEWAY_URL",
            "token": "JUPYTER_GATEWAY_AUTH_TOKEN",
            "timeout": "JUPYTER_GATEWAY_REQUEST_TIMEOUT",
        }
    )
    url = env.get(var["url"])
    if not url:
        return _client(
            nb2kg,
            [
                problem(
                    C,
                    "gateway settings",
                    f"{where} has no {var['url']}: kernels run locally, not on the gateway",
                    "pass the gateway settings through c.Spawner.environment (/etc/environment does not reach "
                    "spawned servers); re-run the install",
                )
            ],
        )
    if url.rstrip("/") != want["url"]:
        out.append(
            problem(
                C,
                "gateway URL",
                f"{where} uses {url}, the gateway is at {want['url']}",
                "re-run the install (hub_config step) and restart the hub",
            )
        )
    if not from_config:
        sent = env.get(var["token"], "")
        if not sent:
            out.append(
                problem(
                    C,
                    "gateway token",
                    f"{where} sends no gateway token: the gateway answers 401",
                    "re-run the install (hub_config step); restart the hub and the user's server",
                )
            )
        else:
            try:
                current = site.secrets.gateway_token(generate=False)
            except OSError:  # SecretError too: the gateway check names it
                current = None
            if current is not None and sent != current:
                out.append(
                    problem(
                        C,
                        "gateway token",
                        f"{where} sends a token other than {site.L.gateway_token_file}: the gateway answers 401",
                        "restart the user's server from the hub's control panel (it takes the current token)",
                    )
                )
    if "KERNEL_USERNAME" not in env:
        out.append(
            problem(
                C,
                "kernel user",
                f"{where} does not send KERNEL_USERNAME: the gateway takes its own user "
                "(root) and refuses the kernel (403)",
                "add KERNEL_USERNAME to c.Spawner.environment (re-run the install) and restart the hub",
            )
        )
    try:
        req = float(env.get(var["timeout"], want["request_timeout"]))
        launch = float(env.get("KERNEL_LAUNCH_TIMEOUT", want["kernel_launch_timeout"]))
    except ValueError:
        req = launch = None
        out.append(
            unknown(
                C,
                "timeouts",
                f"{where}: {var['timeout']} or KERNEL_LAUNCH_TIMEOUT is not a number",
                "re-run the install (hub_config step) and restart the hub",
            )
        )
    if req is not None and req <= launch:
        out.append(
            problem(
                C,
                "timeouts",
                f"request timeout {req:g}s is not above the kernel launch timeout {launch:g}s: "
                "Spark kernels time out while starting",
                "set gateway.request_timeout above gateway.kernel_launch_timeout and re-run the install",
            )
        )
    if not out:
        out.append(ok(C, "gateway settings", f"{where}: gateway URL, token, KERNEL_USERNAME and timeouts in place"))
    return _client(nb2kg, out)


def _client(nb2kg: bool, found: list[Finding]) -> list[Finding]:
    """Each finding says which client it is about: the two read different variables (hub.gateway_client)."""
    name = "nb2kg gateway client (classic notebook 5.7)" if nb2kg else "built-in gateway client (jupyter_server)"
    return [replace(f, detail=f"{f.detail} [{name}]") for f in found]


def check(site: Install) -> list[Finding]:
    return from_config(site) + running(site)
