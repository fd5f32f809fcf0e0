"""README: "Open a browser and navigate to http://<server>:8000 and login with hubadmin" — done by
the wizard: the gateway answers with its token and refuses without it, lists the Spark kernel, the
hub answers, and (when the admin password is known) a PAM login runs a real Spark job; with LDAP the
directory's test account signs in instead; with OpenID Connect the hub must send users to the provider
(the sign-in itself is a browser's), and the gateway runs the Spark job."""

from jeg_wizard import checks, health
from jeg_wizard.actions import Check
from jeg_wizard.engine import Step

from . import services


def _passed(ctx, component: str) -> str:
    """The component's quick checks (the same the doctor and the Finish panels run): all ok, or the step fails."""
    found = checks.quick(ctx.layout, component, timeout=5, secrets=ctx.secrets)
    bad = [f for f in found if f.status != checks.OK]
    if bad:
        raise health.HealthError(
            "; ".join(f"{f.what}: {f.detail}" + (f" (fix: {f.fix})" if f.fix else "") for f in bad)
        )
    return "; ".join(f"{f.what}: {f.detail}" for f in found)


def build(ctx):
    if not ctx.answers.services.start:
        return []
    L, a = ctx.layout, ctx.answers

    def gateway(ctx):
        return f"gateway at {L.gateway_url}: {_passed(ctx, 'gateway')}"

    def hub(ctx):
        return _passed(ctx, "hub")

    # who signs in for the login -> Spark job check: the admin (PAM), or the directory's test account
    ldap = a.hub.authenticator == "ldap"
    who = a.ldap.test_user if ldap else a.users.admin

    def e2e(ctx):
        password = ctx.secrets.given("ldap", "test_password") if ldap else ctx.secrets.admin_password()
        if password is None:
            ctx.runner.emit(
                "note: the admin password is not known to the wizard (hash or kept); "
                "the login -> Spark job check is skipped: run `jeg-wizard status` with it"
            )
            return None
        try:
            smoke = health.login_and_spark_job(
                L.hub_url,
                who,
                password,
                a.kernels.name,
                timeout=a.gateway.kernel_launch_timeout + 120,
                say=lambda s: ctx.runner.emit(f"  {s}"),
                verify=L.hub_verify,
                page=L.user_page,
            )
        except health.HealthError as e:
            if L.gateway_tls:  # the user server's error hides the cause: ask the gateway as it does
                try:
                    _passed(ctx, "gateway")
                except health.HealthError as why:
                    raise health.HealthError(f"{e}; the gateway as the user servers see it: {why}") from None
            raise
        return f"{who} logged in and ran spark.range(1000).count() = {smoke.result} via the gateway"

    def gateway_job(ctx):
        smoke = health.gateway_spark_job(
            L.gateway_url,
            ctx.secrets.gateway_token(),
            a.kernels.name,
            a.users.admin,
            timeout=a.gateway.kernel_launch_timeout + 120,
            say=lambda s: ctx.runner.emit(f"  {s}"),
            verify=L.gateway_verify,
        )
        return f"the gateway ran spark.range(1000).count() = {smoke.result} for {a.users.admin}"

    def other_kernel(name: str, code: str, expect: str):
        def run(ctx):
            smoke = health.gateway_spark_job(
                L.gateway_url,
                ctx.secrets.gateway_token(),
                name,
                a.users.admin,
                code=code,
                expect=expect,
                timeout=a.gateway.kernel_launch_timeout + 120,
                say=lambda s: ctx.runner.emit(f"  {s}"),
                verify=L.gateway_verify,
            )
            return f"the gateway's '{name}' kernel ran {code} = {smoke.result} in {smoke.total:.1f}s"

        return run

    # the Scala and R kernels: each starts through the gateway and computes (Scala: a Spark job)
    others = [
        Check(f"{what} kernel: {code} through the gateway", other_kernel(d.name, code, expect), deep=True)
        for d in L.kernel_dirs[1:]
        for what, code, expect in [health.OTHER_KERNEL_PROBES[d.name]]
    ]

    def provider(ctx):
        return health.oidc_login_redirect(L.hub_url, L.oidc_callback_url, a.oidc.client_id, verify=L.hub_verify)

    if L.role == "gateway":  # the hub host checks the gateway from its side, and runs the job
        # worker hosts join later (installed after this host): the doctor says when none has
        spark = [Check("the Spark master answers and has a worker", lambda ctx: _passed(ctx, "spark"))]
        return [Check("gateway answers with the token and refuses without it", gateway)] + (
            spark if L.spark_master and not a.site.worker_hosts else []
        )
    return [
        Check(
            "gateway answers with the token and refuses without it"
            + (f" (from the hub host, at {L.gateway_url})" if L.role == "hub" else ""),
            gateway,
        ),
        Check("hub API answers", hub),
        *(
            # a user signs in on the provider's page (a browser's work): the hub must send them there, and the
            # gateway run a Spark job for their server
            [
                Check("the hub's login sends users to the OpenID provider", provider),
                Check("Spark job through the gateway, as a user server runs it", gateway_job, deep=True),
            ]
            if a.hub.authenticator == "oidc"
            else [
                Check(
                    f"login as {who} -> spawn -> Spark job through the gateway",
                    e2e,
                    [f"# POST {L.hub_url}/hub/login as {who}; start {a.kernels.name}; run spark.range(1000).count()"],
                    deep=True,
                )
            ]
        ),
        *others,
    ]


STEP = Step(
    "health",
    "Check the gateway, the hub and a real Spark job",
    "open http://<server>:8000 and log in",
    build,
    skippable=False,
    roles=("all", "gateway", "hub"),
    # not the smoke job: it runs beside it (the install ends when both have); its kernel may start before
    # the class archive is written, which only makes it slower
    needs=(*services.NEEDS, "gateway_client", "services"),
    titles={
        "gateway": "Check the gateway (and the Spark master with its worker)",
        "hub": "Check the gateway across the hop, the hub and a real Spark job",
    },
)
