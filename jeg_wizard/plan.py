"""Plan rendering: the ordered steps, done / to do as detected here, argv and diffs (masked)."""

from __future__ import annotations

from .engine import StepState

STATE_LABEL = {"done": "done", "todo": "to do", "check": "check", "skipped": "skipped"}


def render_plan(states: list[StepState], ctx, brief: bool = False) -> str:
    todo = sum(1 for s in states if s.status == "todo")
    from . import distro

    out = [
        f"jeg-wizard plan: {len(states)} steps, {todo} with changes to make (dry run: nothing was changed)",
        f"on {distro.detect().pretty}:",
        *(f"  - {line}" for line in distro.choices(ctx.answers)),
        *site_lines(ctx),
        *signin_lines(ctx.answers),
        *kernel_lines(ctx.answers),
        "",
    ]
    for n, st in enumerate(states, 1):
        label = STATE_LABEL.get(st.status, st.status)
        out.append(f"{n:2d}. {st.step.id:<15} [{label}]  {st.step.title}")
        out.append(f"    README: {st.step.readme}")
        if brief:
            continue
        for action in st.pending:
            out.append(f"    - {ctx.runner.redactor(action.title)}")
            for line in action.preview(ctx):
                for sub in line.rstrip("\n").splitlines():
                    out.append(f"        {ctx.runner.redactor(sub)}")
    return "\n".join(out) + "\n"


def site_lines(ctx) -> list[str]:
    """A site of several hosts: which part this host does, and plain HTTP between them said out loud."""
    from .roles import DOES

    site = ctx.answers.site
    if not site.split:
        return []
    workers = f", workers {', '.join(site.worker_hosts)}" if site.worker_hosts else ""
    out = [f"this host's role: {ctx.role}: {DOES[ctx.role]}"]
    out.append(f"  (site: gateway host {site.gateway_host}, hub host {site.hub_host}{workers})")
    if site.plain_http:
        out.append(PLAIN_HTTP_WARNING.format(hub=site.hub_host, gateway=site.gateway_host))
    return out


def signin_lines(a) -> list[str]:
    """Who signs users in, and a directory reached without TLS said out loud."""
    kind = a.hub.authenticator
    if kind == "pam":
        return []
    x = getattr(a, kind)
    out = [
        f"sign-in: {kind} at {x.url if kind == 'ldap' else x.issuer}, checked live before any change "
        f"(local accounts: {x.local_accounts})"
    ]
    if kind == "ldap" and x.url.startswith("ldap://") and not x.start_tls:
        out.append(
            "warning: ldap.url is ldap:// without ldap.start_tls: every user's password crosses the network in clear"
        )
    if kind == "oidc" and x.issuer.startswith("http://"):
        out.append("warning: oidc.issuer is plain http://: tokens and codes cross the network in clear")
    return out


def kernel_lines(a) -> list[str]:
    """The kernels beside Python, and what each can do with Spark, said plainly."""
    out = []
    if a.kernels.scala:
        out.append(f"kernels: Scala (Apache Toree 0.5, Scala 2.12) on Spark {a.spark.version}, master {a.spark.master}")
    if a.kernels.r:
        out.append(
            "kernels: R (IRkernel from the distribution) without Spark: PyPI's pyspark ships no SparkR"
            if a.spark.source == "pypi"
            else "kernels: R (IRkernel from the distribution), with SparkR where the Spark tarball has R/lib/SparkR "
            "(Apache's do), else without Spark"
        )
    return out


PLAIN_HTTP_WARNING = (
    "warning: site.plain_http = true: the hub host ({hub}) talks to the gateway host ({gateway}) in plain HTTP; "
    "the gateway token and every notebook's code cross the network in clear"
)
