"""Enterprise Gateway over HTTP: it answers, wants its token and takes ours, lists our kernelspec and
its kernels; its transport; whom it refuses; its config file against a fresh render."""

from __future__ import annotations

from ..secrets import SecretError
from . import accounts, configs, httpget
from .finding import OK, Finding, ok, problem, unknown
from .install import Install

C = "gateway"


def token(site: Install, component: str = C) -> tuple[str | None, Finding | None]:
    """The gateway token through Secrets, or the finding that says why there is none."""
    f = site.L.gateway_token_file
    try:
        value = site.secrets.gateway_token(generate=False)
    except SecretError as e:
        return None, problem(component, "token", str(e), f"chmod 600 {f} (or re-run the install)")
    except OSError as e:
        return None, unknown(component, "token", f"cannot read {f}: {e.strerror}", "run the doctor as root")
    if not value:
        fix = f"{_rejoin(site)}" if _remote(site) else "re-run the install (it generates one)"
        return None, problem(component, "token", f"no token in {f}", fix)
    return value, None


# -- the hub host of a split site checks the gateway across the hop: each failure names both hosts


def _remote(site: Install) -> str:
    """'GATEWAY_HOST:PORT' when the gateway is on another host (this is the hub host), else ''."""
    L = site.L
    return f"{L._host(site.a.site.gateway_host)}:{site.a.gateway.port}" if L.role == "hub" else ""


def _rejoin(site: Install) -> str:
    return (
        f"copy the join file from the gateway host ({site.L.join_file} there; its install writes it) and run "
        "here: jeg-wizard install --join FILE"
    )


def why_unreachable(e: BaseException, timeout: float) -> str:
    """The socket's own reason, in an operator's words: refused, no route, no name, or silence."""
    import errno
    import socket

    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused (nothing listens on that address and port there)"
        if isinstance(seen, socket.gaierror):
            return "the name does not resolve"
        if isinstance(seen, OSError) and seen.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "no route to host"
        seen = seen.__cause__ or seen.__context__
    text = str(e).lower()
    if isinstance(e, httpget.timeouts()) or "timed out" in text:
        return f"no answer within {round(timeout, 1):g}s (the host is down, or a firewall drops the packets)"
    if "refused" in text:
        return "connection refused (nothing listens on that address and port there)"
    if "no route" in text or "unreachable" in text:
        return "no route to host"
    return f"{type(e).__name__}: {' '.join(str(e).split())[:200]}"


def _unreachable(site: Install, e: Exception, hop: str) -> Finding:
    a, host = site.a, site.a.site.gateway_host
    why = why_unreachable(e, site.timeout)
    return problem(
        C,
        "answers",
        f"hub host cannot reach gateway host {hop}: {why}",
        f"on the gateway host {host}: jeg-wizard services status gateway (start it if it is stopped); it must "
        f"listen on {a.gateway.ip} (gateway.ip), not 127.0.0.1 only, and port {a.gateway.port} must be open "
        f"from {a.site.hub_host}",
        f"on the gateway host {host}: {site.log('gateway')}",
    )


def answers(site: Install) -> list[Finding]:
    """The quick part (the Finish panel and the health step): it answers, refuses without the token,
    takes ours and says its version."""
    L, log = site.L, site.log("gateway")
    url = L.gateway_url
    hop = _remote(site)
    if L.gateway_tls and not L.gateway_ca_file.exists():
        return [
            problem(
                C,
                "TLS",
                f"no CA certificate at {L.gateway_ca_file}: the gateway's certificate cannot be verified",
                _rejoin(site) if hop else "re-run the install (the gateway step writes it)",
            )
        ]
    try:
        anon = site.get(f"{url}/api/kernelspecs")
    except httpget.errors() as e:
        from ..health import describe_ssl_error

        why = describe_ssl_error(e)
        if why.startswith("TLS") and hop:
            return [
                problem(
                    C,
                    "TLS",
                    f"hub host cannot verify gateway host {hop}: {why} (against the CA from the join file, "
                    f"{L.gateway_ca_file})",
                    f"the gateway host's CA or certificate is not the one the join file carried: {_rejoin(site)}",
                    f"on the gateway host {site.a.site.gateway_host}: {log}",
                )
            ]
        if hop:
            return [_unreachable(site, e, hop)]
        if why.startswith("TLS"):
            return [
                problem(
                    C,
                    "TLS",
                    f"{url}: {why}",
                    f"the gateway's certificate must be signed by the CA in {L.gateway_ca_file} and name "
                    f"the gateway's host; re-run the install to put matching files in {L.tls_dir}",
                    log,
                )
            ]
        return [
            problem(
                C, "answers", f"{url} does not answer ({type(e).__name__})", "jeg-wizard services restart gateway", log
            )
        ]
    out = []
    if anon.status_code == 200:
        out.append(
            problem(
                C,
                "token required",
                "answers /api/kernelspecs without a token: anyone who reaches it runs code",
                "set EnterpriseGatewayApp.auth_token (re-run the install) and restart the gateway",
                log,
            )
        )
    elif anon.status_code in (401, 403):
        out.append(ok(C, "token required", f"HTTP {anon.status_code} without the token"))
    else:  # a 404 or 5xx says nothing about the token
        out.append(
            unknown(
                C,
                "token required",
                f"{url}/api/kernelspecs answers HTTP {anon.status_code} without the token: "
                "cannot tell whether it requires one",
                "is this the gateway? check gateway.ip/port",
                log,
            )
        )
    value, missing = token(site)
    if missing:
        return out + [missing]
    r = site.get(f"{url}/api", headers={"Authorization": f"token {value}"})
    if r.status_code in (401, 403) and hop:
        return out + [
            problem(
                C,
                "token accepted",
                f"gateway host {hop} refuses the token from the join file ({L.gateway_token_file}, HTTP "
                f"{r.status_code}): the gateway there uses another token",
                _rejoin(site),
                f"on the gateway host {site.a.site.gateway_host}: {log}",
            )
        ]
    if r.status_code in (401, 403):
        return out + [
            problem(
                C,
                "token accepted",
                f"the gateway refuses the token in {L.gateway_token_file} "
                f"(HTTP {r.status_code}): the running gateway uses another token",
                "jeg-wizard services restart gateway (it reads the token file at start)",
                log,
            )
        ]
    try:
        body = r.json() if r.status_code == 200 else None
    except ValueError:
        body = None
    if not isinstance(body, dict) or "gateway_version" not in body:
        return out + [
            unknown(
                C,
                "version",
                f"{url}/api answers HTTP {r.status_code} without a gateway version",
                "is this the gateway? check gateway.ip/port",
                log,
            )
        ]
    server = f" (jupyter_server {body['version']})" if body.get("version") else ""
    return out + [ok(C, "version", f"JEG {body['gateway_version']}{server}")]


def transport(site: Install) -> Finding:
    """HTTPS with days left on the certificate; plain HTTP is fine on loopback only."""
    import datetime as dt
    import ipaddress

    L, a = site.L, site.a
    if a.site.plain_http:  # said on both hosts, by the plan too
        return problem(
            C,
            "transport",
            f"plain HTTP between the hub host ({a.site.hub_host}) and the gateway host ({a.site.gateway_host}) "
            "(site.plain_http = true): the gateway token and all code cross the network in clear",
            "set site.plain_http = false (TLS with a generated CA is then the default) and re-run the install on "
            "both hosts (the hub host with the new join file)",
            warning=True,
        )
    if L.role == "hub":  # answers() got here through TLS verified against the join file's CA
        return ok(C, "transport", f"HTTPS to gateway host {_remote(site)}, verified against {L.gateway_ca_file}")
    if not L.gateway_tls:
        if ipaddress.ip_address(a.gateway.ip).is_loopback:
            return ok(C, "transport", f"plain HTTP on loopback ({a.gateway.ip})")
        return problem(
            C,
            "transport",
            f"plain HTTP on {a.gateway.ip}: the token and all code cross the network in clear",
            'set gateway.tls = "generate" (or "files") and re-run the install',
            warning=True,
        )
    try:
        from cryptography import x509

        cert = x509.load_pem_x509_certificate(L.gateway_cert_file.read_bytes())
    except (OSError, ValueError) as e:
        return problem(
            C,
            "transport",
            f"HTTPS, but its certificate {L.gateway_cert_file} cannot be read: {e}",
            "re-run the install",
        )
    left = (cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)).days
    if left < 30:
        return problem(
            C,
            "transport",
            f"HTTPS; the gateway certificate expires in {left} days",
            "re-run the install: it renews a generated certificate 30 days before it expires",
            warning=True,
        )
    return ok(C, "transport", f"HTTPS verified against {L.gateway_ca_file}; certificate good for {left} days")


def kernel_api(site: Install, value: str) -> list[Finding]:
    L, log = site.L, site.log("gateway")
    wanted = [d.name for d in L.kernel_dirs]
    auth = {"Authorization": f"token {value}"}
    out = []
    specs = site.get(f"{L.gateway_url}/api/kernelspecs", headers=auth)
    if specs.status_code != 200:
        out.append(
            unknown(
                C,
                "kernelspecs",
                f"GET /api/kernelspecs answers HTTP {specs.status_code} with the token",
                "jeg-wizard services restart gateway",
                log,
            )
        )
    else:
        names = sorted(specs.json().get("kernelspecs", {}))
        missing = [n for n in wanted if n not in names]
        if not missing:
            out.append(ok(C, "kernelspecs", ", ".join(names)))
        else:
            out.append(
                problem(
                    C,
                    "kernelspecs",
                    f"{', '.join(repr(n) for n in missing)} not listed (lists: {', '.join(names) or 'nothing'})",
                    f"check {site.a.kernels.dir} and JUPYTER_PATH of the gateway; jeg-wizard services restart gateway",
                    log,
                )
            )
    k = site.get(f"{L.gateway_url}/api/kernels", headers=auth)
    if k.status_code == 403:
        out.append(
            problem(
                C,
                "kernel listing",
                "GET /api/kernels answers 403: JupyterLab's polling fails and Lab misbehaves",
                "set gateway.list_kernels = true (EnterpriseGatewayApp.list_kernels = True) and restart the gateway",
                log,
            )
        )
    elif k.status_code == 200:
        try:
            running = k.json()
        except ValueError:
            running = None
        if isinstance(running, list):
            out.append(ok(C, "kernel listing", f"{len(running)} kernels running"))
        else:
            out.append(
                unknown(
                    C,
                    "kernel listing",
                    "GET /api/kernels answers 200 without a list of kernels",
                    "is this the gateway? check gateway.ip/port",
                    log,
                )
            )
    else:
        out.append(
            unknown(
                C,
                "kernel listing",
                f"GET /api/kernels answers HTTP {k.status_code}",
                "jeg-wizard services restart gateway",
                log,
            )
        )
    return out


def impersonation(site: Install, cfg: configs.Config) -> Finding:
    """A note, not a failure: impersonation works as designed, and the operator should know what it trusts."""
    if cfg.get("EnterpriseGatewayApp.impersonation_enabled") is not True:
        return problem(
            C,
            "impersonation",
            f"gateway.impersonation is on but {site.L.gateway_config} does not enable it",
            "re-run the install",
            site.log("gateway"),
        )
    who = ", ".join(site.context["gateway"]["authorized_users"]) or "any non-system account"
    return problem(
        C,
        "impersonation",
        f"kernels run as the hub user named in KERNEL_USERNAME; the gateway trusts that name from every holder "
        f"of its token, and every user server holds it: a hub user who reads it can start kernels as {who}",
        "accept this trust, or set gateway.impersonation = false (kernels then run as gateway.user)",
        warning=True,
    )


def refused(site: Install, cfg: configs.Config) -> list[Finding]:
    from ..preflight import group_members

    admin, out = site.a.users.admin, []
    names = cfg.get("EnterpriseGatewayApp.unauthorized_users", {"root"})  # JEG's default
    if isinstance(names, set) and admin in names:
        out.append(
            problem(
                C,
                "users",
                f"the gateway refuses kernels for the hub admin '{admin}' (unauthorized_users)",
                f"remove {admin} from gateway.unauthorized_users and re-run the install",
            )
        )
    group = group_members(site.a.gateway.unauthorized_groups).get(admin)
    if group:
        out.append(
            problem(
                C,
                "users",
                f"the hub admin '{admin}' is a member of {group}: the gateway "
                "refuses kernels for members of gateway.unauthorized_groups",
                f"remove {admin} from {group}, or {group} from gateway.unauthorized_groups",
            )
        )
    return out


def check(site: Install) -> list[Finding]:
    if site.L.role == "hub":  # the gateway is another host's: what this host sees of it, across the hop
        out = answers(site)
        if any(f.what in ("answers", "TLS") for f in out):
            return out
        out.append(transport(site))
        if not any(f.what in ("token", "token accepted") for f in out):
            out += kernel_api(site, site.secrets.gateway_token(generate=False))
        return out
    local = accounts.gateway_user(site) + accounts.secret_files(site, C)  # what it needs on this host
    out = answers(site)
    if any(f.what in ("answers", "TLS") for f in out):  # down: no green line for it, only what else is wrong
        return out + [f for f in local if f.status != OK]
    out.append(transport(site))
    if not any(f.what in ("token", "token accepted") for f in out):  # a token the gateway takes
        out += kernel_api(site, site.secrets.gateway_token(generate=False))
    cfg = site.config("gateway")
    if cfg is not None and not cfg.error:
        if site.a.gateway.impersonation:
            out.append(impersonation(site, cfg))
        out += refused(site, cfg)
    return out + local + configs.file_finding(site, "gateway", C, "gateway")


def smoke(site: Install) -> Finding:
    """Start a Spark kernel on the gateway as the admin, run a job, delete it; the phases timed.
    Never raises: a failure is a problem of one line with the log to read."""
    from .. import health

    L, a, log = site.L, site.a, site.log("gateway")
    value, missing = token(site, "spark")
    if missing:
        return missing
    try:
        s = health.gateway_spark_job(L.gateway_url, value, a.kernels.name, a.users.admin, verify=L.gateway_verify)
    except health.HealthError as e:
        return problem("spark", "smoke", str(e), _smoke_fix(str(e)), log)
    except Exception as e:  # noqa: BLE001 - a smoke test that cannot run is a finding, not a traceback
        return problem("spark", "smoke", f"could not run: {type(e).__name__}: {e}", "", log)
    return ok("spark", "smoke", f"spark.range(1000).count() = {s.result} on the gateway ({s.timings()})")


def _smoke_fix(error: str) -> str:
    """The next step for the commonest causes, read from the one-line error."""
    if "no answer" in error and error.startswith("start request"):
        return "the gateway is not answering: see the services and gateway lines above; jeg-wizard services restart gateway"
    if "HTTP 403" in error:
        return "the gateway refuses this user: check gateway.unauthorized_users/authorized_users"
    if "HTTP 401" in error:
        return "the gateway refuses the token: jeg-wizard services restart gateway"
    if "NameError" in error or "`spark` is undefined" in error:
        return "the kernel started without Spark: see the kernels lines above (SPARK_HOME, JAVA_HOME, PYTHONPATH)"
    return "read the gateway log below for the kernel's own error"
