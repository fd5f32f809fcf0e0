"""The chosen authenticator checked live, from the answers: the gate refuses a switch that would lock
every user out (naming the hop that failed), the doctor says whether the directory or the provider
still answers. PAM has nothing to check here (the admin account is the install's own)."""

from __future__ import annotations

from .secrets import SecretError, given_secret


def _secret(cfg, section: str, name: str) -> str:
    return given_secret(cfg, section, name)


def hops(a, layout, *, full: bool = True) -> list:
    """The hops of the live check for hub.authenticator (full: with the test sign-in / client
    credentials, as the gate runs it; else reachability, as the doctor does). SecretError when a
    secret the answers point at cannot be read."""
    kind = a.hub.authenticator
    if kind == "ldap":
        x = a.ldap
        service = _secret(x, "ldap", "service_password") if x.service_dn else None
        test = _secret(x, "ldap", "test_password") if full else None
        from . import directory

        if not full:
            return directory.reachable(x, service_password=service, timeout=x.timeout)
        return directory.check(x, service_password=service, test_password=test, timeout=x.timeout)
    if kind == "oidc":
        x = a.oidc
        secret = _secret(x, "oidc", "client_secret") if full else None
        from . import oidc

        if not full:
            return oidc.reachable(x, timeout=x.timeout, ca_file=x.ca_file)
        return oidc.check(
            x,
            client_secret=secret,
            callback_url=layout.oidc_callback_url,
            hub_public_url=layout.public_hub_url,
            ca_file=x.ca_file,
            timeout=x.timeout,
        )
    return []


def problems(a, layout) -> list[str]:
    """The gate's part: [] when the authenticator chosen would let its users in."""
    kind = a.hub.authenticator
    if kind == "pam":
        return []
    try:
        found = hops(a, layout)
    except SecretError as e:
        return [str(e)]
    return [
        f"hub.authenticator: '{kind}' checked live before the switch: {h.name} failed: {h.detail}"
        for h in found
        if not h.ok
    ]
