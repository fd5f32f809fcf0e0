"""README: "Open a browser and navigate to http://<server>:8000 and login with hubadmin" — done by
the wizard: the gateway answers with its token and refuses without it, lists the Spark kernel, the
hub answers, and (when the admin password is known) a PAM login runs a real Spark job."""
from jeg_wizard import health
from jeg_wizard.actions import Check
from jeg_wizard.engine import Step


def build(ctx):
    if not ctx.answers.services.start:
        return []
    L, a = ctx.layout, ctx.answers

    def gateway(ctx):
        v = health.gateway_version(L.gateway_url, ctx.secrets.gateway_token(), verify=L.gateway_verify)
        code = health.gateway_rejects_anonymous(L.gateway_url, verify=L.gateway_verify)
        return f"gateway {v} at {L.gateway_url} answers with the token, {code} without it"

    def hub(ctx):
        return f"hub {health.hub_version(L.hub_url, verify=L.hub_verify)} at {L.hub_url}"

    def e2e(ctx):
        password = ctx.secrets.admin_password()
        if password is None:
            ctx.runner.emit("note: the admin password is not known to the wizard (hash or kept); "
                            "the login -> Spark job check is skipped: run `jeg-wizard status` with it")
            return None
        try:
            smoke = health.login_and_spark_job(L.hub_url, a.users.admin, password, a.kernels.name,
                                               timeout=a.gateway.kernel_launch_timeout + 120,
                                               say=lambda s: ctx.runner.emit(f"  {s}"), verify=L.hub_verify)
        except health.HealthError as e:
            if L.gateway_tls:  # the user server's error hides the cause: ask the gateway as it does
                try:
                    health.gateway_version(L.gateway_url, ctx.secrets.gateway_token(), verify=L.gateway_verify)
                except health.HealthError as why:
                    raise health.HealthError(f"{e}; the gateway as the user servers see it: {why}") from None
            raise
        return f"{a.users.admin} logged in and ran spark.range(1000).count() = {smoke.result} via the gateway"

    return [
        Check("gateway answers with the token and refuses without it", gateway),
        Check("hub API answers", hub),
        Check(f"login as {a.users.admin} -> spawn -> Spark job through the gateway", e2e,
              [f"# POST {L.hub_url}/hub/login as {a.users.admin}; start {a.kernels.name}; run spark.range(1000).count()"]),
    ]


STEP = Step("health", "Check the gateway, the hub and a real Spark job", "open http://<server>:8000 and log in", build, skippable=False)
