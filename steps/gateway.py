"""README: `pip3 install jupyter_enterprise_gateway`; `jupyter enterprisegateway --ip=... --port_retries=0`;
`curl http://<server>:8888/api/kernelspecs`.

Own venv (JEG 3.3 pins jupyter_server<2), a token always (0600 file, generated when missing),
a config file rendered from templates/, started as a service and asked for its kernelspecs.
It runs as gateway.user (an unprivileged system account), or as root with gateway.impersonation,
where each kernel switches to the hub user it is for (see kernels/launch_as_user.py).
"""

import functools
from urllib.parse import urlsplit

from jeg_wizard import health, render, tls
from jeg_wizard.actions import (
    Check,
    Directory,
    FileContent,
    ServiceRunning,
    UserAccount,
    Venv,
    command_check,
    secret_file,
)
from jeg_wizard.engine import Step
from jeg_wizard.releases import CURRENT
from jeg_wizard.services import ServiceSpec

# the recipe and why it is what it is: jeg_wizard.releases (every release set's pins in one place)
GATEWAY_REQUIREMENTS = list(CURRENT.gateway_no_deps)  # installed last, --no-deps
GATEWAY_DEPENDENCIES = list(CURRENT.gateway)


def service_spec(ctx) -> ServiceSpec:
    L = ctx.layout
    return ServiceSpec(
        name="gateway",
        description="Jupyter Enterprise Gateway",
        argv=[str(L.gateway_venv / "bin" / "jupyter-enterprisegateway"), f"--config={L.gateway_config}"],
        log=str(L.service_log("gateway")),
        env={
            "JUPYTER_PATH": str(L.kernels_root),
            "JUPYTER_RUNTIME_DIR": str(L.gateway_runtime_dir),
            "SPARK_HOME": str(L.spark_home),
            "JAVA_HOME": str(L.java_home),
            "PATH": f"{L.gateway_venv}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            # JEG masks the values of environment keys containing these words when it logs a kernel's env
            "EG_SENSITIVE_ENV_KEYS": SENSITIVE_ENV_KEYS,
        },
        cwd=str(L.gateway_home),
        user=ctx.answers.gateway.user,
        ready_url=f"{L.gateway_url}/api",
        ready_codes=(200, 401),  # /api wants the token
        ready_verify=L.gateway_verify,
        config_files=[
            str(L.gateway_config),
            *([str(L.gateway_cert_file), str(L.gateway_key_file)] if L.gateway_tls else []),
        ],
        sandbox=sandbox(ctx),
    )


def sandbox(ctx) -> list[str]:
    """The gateway writes only its home (kernels' working directory, runtime dir). With impersonation it
    runs as root and kernels work in the users' homes: the system stays read-only, homes do not."""
    if ctx.answers.gateway.impersonation:
        return ["ProtectSystem=full"]
    return [
        "ProtectSystem=strict",
        "ProtectHome=yes",
        f"ReadWritePaths={ctx.layout.gateway_home}",
        "CapabilityBoundingSet=",
        "AmbientCapabilities=",
    ]


SENSITIVE_ENV_KEYS = "password,passwd,secret,token,credential,private,api_key,access_key"


def kernelspecs_served(ctx) -> str:
    import httpx

    L = ctx.layout
    wanted = [d.name for d in L.kernel_dirs]
    try:
        r = httpx.get(
            f"{L.gateway_url}/api/kernelspecs",
            headers={"Authorization": f"token {ctx.secrets.gateway_token()}"},
            timeout=10,
            verify=health.tls_verify(L.gateway_verify),
        )
    except httpx.HTTPError as e:
        raise RuntimeError(f"gateway {L.gateway_url}: {health.describe_ssl_error(e)}") from None
    if r.status_code != 200:
        raise RuntimeError(f"gateway /api/kernelspecs answered HTTP {r.status_code}; see {L.service_log('gateway')}")
    names = sorted(r.json().get("kernelspecs", {}))
    missing = [n for n in wanted if n not in names]
    if missing:
        raise RuntimeError(
            f"gateway does not list kernel {', '.join(repr(n) for n in missing)} (it lists: "
            f"{', '.join(names) or 'none'}); check {ctx.answers.kernels.dir}"
        )
    return f"gateway lists kernelspecs: {', '.join(names)}"


def gateway_user(ctx) -> list:
    """Kernels run as the gateway's user: an unprivileged system account unless told otherwise."""
    user = ctx.answers.gateway.user
    if user == "root":
        return []
    return [UserAccount(user, lambda: None, system_home=str(ctx.layout.gateway_home))]


def tls_actions(ctx) -> list:
    """The CA clients trust (world-readable), the gateway's certificate and its key (gateway user only)."""
    L = ctx.layout
    if not L.gateway_tls:
        return []
    user = ctx.answers.gateway.user  # named even when root: a switch hands the key over

    @functools.cache  # once per run: every file below must come from the same CA and key
    def material() -> tls.Material:
        generate = ctx.answers.gateway.tls == "generate"
        m = tls.generated_material(L) if generate else tls.given_material(ctx.answers)
        for what in m.generated:
            ctx.runner.emit(f"generated a new {what}")
        return m

    host = urlsplit(L.gateway_url).hostname
    actions = [
        Directory(L.tls_dir, 0o711),
        FileContent(L.gateway_ca_file, lambda: material().ca_cert.decode(), mode=0o644),
        FileContent(L.gateway_cert_file, lambda: material().cert.decode(), mode=0o644),
        FileContent(L.gateway_key_file, lambda: material().key.decode(), mode=0o600, secret=True, owner=user),
    ]
    if ctx.answers.gateway.tls == "generate":
        actions.insert(1, FileContent(L.tls_ca_key, lambda: material().ca_key.decode(), mode=0o600, secret=True))
    actions.append(
        Check(
            f"the gateway certificate names {host} and was signed by the CA clients trust",
            lambda ctx: tls.check_gateway_files(L.gateway_cert_file, L.gateway_key_file, L.gateway_ca_file, host),
        )
    )
    return actions


IMPERSONATION_TRUST = [
    "gateway.impersonation: the gateway runs as root and starts each kernel as the user named in",
    "KERNEL_USERNAME (root and system accounts are refused). It trusts that name from every client",
    "holding the gateway token, and every user server holds it: a hub user who reads it can start",
    "kernels as any other hub user (the gateway's authorized_users: the hub's users).",
]


def impersonation_note(ctx) -> str:
    return " ".join(IMPERSONATION_TRUST)


def build(ctx):
    L = ctx.layout
    venv = L.gateway_venv
    # named even when root: switching gateway.user (e.g. to impersonation) hands the token and the
    # gateway's directories over, so the previous account keeps no access to them
    user = ctx.answers.gateway.user
    config = FileContent(
        L.gateway_config,
        lambda: render.render("jupyter_enterprise_gateway_config.py.j2", render.context(L)),
        validate=lambda t: render.check_python(t, str(L.gateway_config)),
    )
    actions = [
        Venv(venv, ctx.answers.system.python, GATEWAY_DEPENDENCIES, no_deps=GATEWAY_REQUIREMENTS),
        command_check(
            f"the gateway's `jupyter kernelspec list` shows {ctx.answers.kernels.name}",
            [str(venv / "bin" / "jupyter"), "kernelspec", "list"],
            ctx.answers.kernels.name,
            env={"JUPYTER_PATH": str(L.kernels_root)},
        ),
        *gateway_user(ctx),
        Directory(L.secrets_dir, 0o711),  # the gateway reads its own token inside; the other files are 0600 root
        secret_file(L.gateway_token_file, ctx.secrets.gateway_token, owner=user),
        Directory(L.gateway_home, 0o700, owner=user),
        Directory(L.gateway_runtime_dir, 0o1700, owner=user),  # the mode jupyter_core sets at every start
        *tls_actions(ctx),
        config,
    ]
    if ctx.answers.gateway.impersonation:
        actions.append(
            Check(
                "impersonation: kernels run as the hub user, trusting KERNEL_USERNAME",
                impersonation_note,
                [f"# {line}" for line in IMPERSONATION_TRUST],
            )
        )
    if not ctx.answers.services.start:
        return actions
    return actions + [
        ServiceRunning(lambda: service_spec(ctx), ctx.answers.services.manager, L.services_dir),
        Check(
            f"gateway /api/kernelspecs lists {', '.join(d.name for d in L.kernel_dirs)}",
            kernelspecs_served,
            [f"# GET {L.gateway_url}/api/kernelspecs (Authorization: token ********)"],
        ),
    ]


STEP = Step(
    "gateway",
    "Install and start Jupyter Enterprise Gateway",
    "pip3 install jupyter_enterprise_gateway; jupyter enterprisegateway",
    build,
    roles=("all", "gateway"),
    needs=("java", "kernelspecs"),
)
