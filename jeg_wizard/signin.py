"""The chosen authenticator checked live, from the answers: the gate refuses a switch that would lock
every user out, naming the hop that failed (the doctor's reachability check is checks/hub.py's, with the
hub's own copy of the secret). PAM has nothing to check here (the admin account is the install's own)."""

from __future__ import annotations

from .secrets import SecretError, given_secret


def hops(a, layout) -> list:
    """The hops of a sign-in through hub.authenticator, as the gate runs it: with the test account (LDAP)
    or the client's credentials (OIDC). SecretError when a secret the answers point at cannot be read."""
    kind = a.hub.authenticator
    if kind == "ldap":
        x = a.ldap
        service = given_secret(x, "ldap", "service_password") if x.service_dn else None
        test = given_secret(x, "ldap", "test_password")
        from . import directory

        return directory.check(x, service_password=service, test_password=test, timeout=x.timeout)
    if kind == "oidc":
        x = a.oidc
        secret = given_secret(x, "oidc", "client_secret")
        from . import oidc

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
    try:
        found = hops(a, layout)
    except SecretError as e:
        return [str(e)]
    return [
        f"hub.authenticator: '{a.hub.authenticator}' checked live before the switch: {h.name} failed: {h.detail}"
        for h in found
        if not h.ok
    ]
