"""README: "Open a browser and navigate to http://<server>:8000 and login with hubadmin" — done by
the wizard: the gateway answers with its token and refuses without it, lists the Spark kernel, the
hub answers, and (when the admin password is known) a PAM login runs a real Spark job."""

from jeg_wizard import checks, health
from jeg_wizard.actions import Check
from jeg_wizard.engine import Step


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

    def e2e(ctx):
        password = ctx.secrets.admin_password()
        if password is None:
            ctx.runner.emit(
                "note: the admin password is not known to the wizard (hash or kept); "
                "the login -> Spark job check is skipped: run `jeg-wizard status` with it"
            )
            return None
        try:
            smoke = health.login_and_spark_job(
                L.hub_url,
                a.users.admin,
                password,
                a.kernels.name,
                timeout=a.gateway.kernel_launch_timeout + 120,
                say=lambda s: ctx.runner.emit(f"  {s}"),
                verify=L.hub_verify,
            )
        except health.HealthError as e:
            if L.gateway_tls:  # the user server's error hides the cause: ask the gateway as it does
                try:
                    _passed(ctx, "gateway")
                except health.HealthError as why:
                    raise health.HealthError(f"{e}; the gateway as the user servers see it: {why}") from None
            raise
        return f"{a.users.admin} logged in and ran spark.range(1000).count() = {smoke.result} via the gateway"

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
        Check(
            f"login as {a.users.admin} -> spawn -> Spark job through the gateway",
            e2e,
            [f"# POST {L.hub_url}/hub/login as {a.users.admin}; start {a.kernels.name}; run spark.range(1000).count()"],
            deep=True,
        ),
    ]


STEP = Step(
    "health",
    "Check the gateway, the hub and a real Spark job",
    "open http://<server>:8000 and log in",
    build,
    skippable=False,
    roles=("all", "gateway", "hub"),
    titles={
        "gateway": "Check the gateway (and the Spark master with its worker)",
        "hub": "Check the gateway across the hop, the hub and a real Spark job",
    },
)
