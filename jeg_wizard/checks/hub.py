"""JupyterHub: its public URL and the API user servers report to, PAM (root, the admin account),
who may log in, its cookie secret, and its config file against a fresh render."""

from __future__ import annotations

from . import accounts, httpget
from . import processes as proc
from .configs import file_finding
from .finding import OK, Finding, ok, problem, unknown
from .install import Install

C = "hub"
# any of these lets someone other than the admins in (JupyterHub >= 5)
WHO_MAY_LOG_IN = [
    f"{auth}.{key}"
    for auth in ("Authenticator", "PAMAuthenticator")
    for key in ("allowed_users", "allow_all", "allowed_groups", "allow_existing_users")
]


def public_url(site: Install) -> Finding:
    """The quick part (the Finish panel and the health step)."""
    L, log = site.L, site.log("hub")
    try:
        r = site.get(f"{L.hub_url}/hub/api")
    except httpget.errors() as e:
        return problem(
            C, "public URL", f"{L.hub_url} does not answer ({type(e).__name__})", "jeg-wizard services restart hub", log
        )
    if r.status_code != 200:
        return problem(
            C,
            "public URL",
            f"{L.hub_url}/hub/api answers HTTP {r.status_code} (proxy up, hub route missing?)",
            "jeg-wizard services restart hub",
            log,
        )
    try:
        version = r.json()["version"]
    except (ValueError, KeyError, TypeError):
        return unknown(
            C,
            "public URL",
            f"{L.hub_url}/hub/api answers without a JupyterHub version",
            "is this the hub? check hub.ip/port",
            log,
        )
    return ok(C, "public URL", f"JupyterHub {version} at {L.hub_url}")


def api(site: Install) -> Finding:
    L, log = site.L, site.log("hub")
    try:
        r = site.get(L.hub_api_url.rsplit("/api", 1)[0] + "/health")
    except httpget.errors():
        return problem(
            C,
            "API for user servers",
            f"{L.hub_api_url} is unreachable: user servers cannot reach the hub",
            "hub.hub_ip must be an address of this host that the user servers reach; jeg-wizard services restart hub",
            log,
        )
    if r.status_code == 200:
        return ok(C, "API for user servers", f"{L.hub_api_url} answers")
    return problem(
        C,
        "API for user servers",
        f"{L.hub_api_url} answers HTTP {r.status_code}",
        "user servers cannot report to the hub: check hub.hub_ip/hub_port",
        log,
    )


def login(site: Install) -> list[Finding]:
    """PAM needs root and the admin's account; JupyterHub >= 5 needs someone allowed."""
    out: list[Finding] = []
    pid = site.pid("hub")
    if pid and proc.uid(pid) != 0:
        out.append(
            problem(
                C,
                "PAM login",
                f"the hub runs as uid {proc.uid(pid)}: PAM login and spawning as users need root",
                "run the hub as root (jeg-wizard services restart hub)",
                site.log("hub"),
            )
        )
    out += accounts.hub_users(site)
    cfg = site.config("hub")
    if cfg is not None and not cfg.error and not any(key in cfg for key in WHO_MAY_LOG_IN):
        out.append(
            problem(
                C,
                "who may log in",
                "no allowed_users / allowed_groups / allow_all: JupyterHub >= 5 lets only admins log in",
                "set users.allowed (or keep the admin in c.Authenticator.allowed_users) and re-run the install",
            )
        )
    return out


def signin(site: Install) -> list[Finding]:
    """hub.authenticator = ldap | oidc: the directory or the provider still answers (and the service account
    still binds), with the hub's own copy of the secret; the sign-in of a user needs their password."""
    a, L = site.a, site.L
    kind = a.hub.authenticator
    if kind == "pam":
        return []
    what = {"ldap": "LDAP directory", "oidc": "OpenID provider"}[kind]
    cfg = getattr(a, kind)
    try:
        if kind == "ldap":
            from .. import directory

            service = L.signin_secret_file.read_text().strip() if L.signin_secret_file else None
            site.secrets.redactor.add(service)
            hops = directory.reachable(cfg, service_password=service, timeout=min(cfg.timeout, site.timeout))
        else:
            from .. import oidc

            hops = oidc.reachable(cfg, timeout=min(cfg.timeout, site.timeout), ca_file=cfg.ca_file)
    except OSError as e:
        return [unknown(C, what, f"cannot read {L.signin_secret_file}: {e.strerror}", "run the doctor as root")]
    bad = next((h for h in hops if not h.ok), None)
    where = cfg.url if kind == "ldap" else cfg.issuer
    if bad:
        return [
            problem(
                C,
                what,
                f"{where}: {bad.name} failed: {bad.detail}; nobody can sign in to the hub",
                f"bring the {'directory' if kind == 'ldap' else 'provider'} back, or fix [{kind}] and run install",
                site.log("hub"),
            )
        ]
    return [ok(C, what, f"{where}: " + "; ".join(f"{h.name} ok" for h in hops))]


def cookie_secret(site: Install) -> list[Finding]:
    """Missing: everyone is logged out (its mode and owner: the secret files check)."""
    secret = site.L.cookie_secret_file
    try:
        secret.lstat()
    except FileNotFoundError:
        return [
            problem(
                C,
                "cookie secret",
                f"{secret} is missing (the hub makes a new one: everyone is logged out)",
                "re-run the install",
                warning=True,
            )
        ]
    except OSError as e:
        return [unknown(C, "cookie secret", f"cannot look at {secret}: {e.strerror}", "run the doctor as root")]
    return []


def check(site: Install) -> list[Finding]:
    from ..preflight import hostname_problems

    log = site.log("hub")
    out = [
        problem(C, "host name", p, "fix the name resolution, then: jeg-wizard services restart hub", log)
        for p in hostname_problems(site.a)
    ]
    out += [
        public_url(site),
        api(site),
        *login(site),
        *signin(site),
        *cookie_secret(site),
        *accounts.secret_files(site, C),
    ]
    if out and any(f.what == "public URL" and f.status != OK for f in out):  # down: no green line for it
        out = [f for f in out if f.status != OK]
    return out + file_finding(site, "hub", C, "hub_config")
