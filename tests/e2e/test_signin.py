"""hub.authenticator = ldap | oidc on the real install, against real servers these tests start on loopback:
Debian's slapd (tests/ldap_server.py) and the npm OpenID provider `oidc-provider` (tests/oidc_provider.py).

Each switch goes through `install --unattended` with new answers, as an operator does it: the gate checks the
authenticator live first (a wrong secret or issuer changes nothing: same config, same hub process), then the
hub restarts on it and the health step signs in. A directory user signs in through Chromium and runs a Spark
cell, with impersonation (the kernel runs as them); a user outside the allowed group is refused; the doctor
names a stopped directory. Then single sign-on: the browser goes through the provider's login page and back.
The install ends on PAM again, for the tests after these."""

from __future__ import annotations

import os
import pwd
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import tomli_w
import tomllib

from jeg_wizard import health

from .browser import run_spark_cell_in_lab
from .conftest import TIMINGS, wizard

pytestmark = pytest.mark.e2e

# directory and provider accounts: per-session names (local accounts get created for them)
_S = os.urandom(2).hex()
ALICE, BOB, PROBE = f"jegwl{_S}a", f"jegwl{_S}b", f"jegwl{_S}p"  # member, outsider, the checks' account
SSO = f"jegwo{_S}s"  # the provider's user
PASSWORDS = {ALICE: "Alice-" + _S * 3, BOB: "Bob-" + _S * 3, PROBE: "Probe-" + _S * 3, SSO: "Sso-" + _S * 3}
LOCAL = [ALICE, BOB, PROBE, SSO]


def _secret(tmp_path: Path, name: str, value: str) -> str:
    p = tmp_path / name
    p.write_text(value + "\n")
    p.chmod(0o600)
    return str(p)


def _switch(installed, tmp_path: Path, name: str, **sections) -> tuple[subprocess.CompletedProcess, float]:
    data = tomllib.loads(installed.answers_path.read_text())
    for section, values in sections.items():
        data[section] = {**data.get(section, {}), **values} if section == "hub" else values
    path = tmp_path / f"{name}.toml"
    path.write_text(tomli_w.dumps(data))
    t0 = time.monotonic()
    r = wizard("install", "--unattended", str(path), env=installed.env)
    return r, time.monotonic() - t0


def _hub_state(installed) -> tuple[bytes, int]:
    L = installed.layout
    return L.hub_config.read_bytes(), int((L.services_dir / "hub.child.pid").read_text())


def _refused(installed, tmp_path, name, hop: str, **sections) -> None:
    """The gate refuses the switch naming the hop, and nothing changed: same config, same hub process."""
    before = _hub_state(installed)
    r, took = _switch(installed, tmp_path, name, **sections)
    out = r.stdout + r.stderr
    print(f"{name}: refused in {took:.1f}s")
    assert r.returncode != 0, out[-3000:]
    assert f"checked live before the switch: {hop} failed" in out, out[-3000:]
    assert _hub_state(installed) == before


@pytest.fixture(scope="module")
def accounts_cleanup():
    yield
    for name in LOCAL:
        subprocess.run(["userdel", "-r", name], capture_output=True)


@pytest.fixture(scope="module")
def back_to_pam(installed):
    yield
    back = wizard("install", "--unattended", str(installed.answers_path), env=installed.env)
    assert back.returncode == 0, (back.stdout + back.stderr)[-3000:]


def test_ldap_directory_users_sign_in_and_run_spark_as_themselves(installed, tmp_path, accounts_cleanup, back_to_pam):
    from tests.ldap_server import LdapServer

    L = installed.layout
    with LdapServer(
        host="localhost",  # a name the certificate carries (ldap3 on Python 3.12+ matches no IP address)
        users={ALICE: PASSWORDS[ALICE], BOB: PASSWORDS[BOB], PROBE: PASSWORDS[PROBE]},
        groups={"data-science": [ALICE, PROBE], "hub-admins": [ALICE]},
    ) as ds:
        ldap = {
            "url": ds.url,
            "start_tls": True,
            "ca_file": str(ds.ca_file),
            "service_dn": ds.service_dn,
            "service_password_file": _secret(tmp_path, "service.pw", ds.service_password),
            "user_search_base": ds.people_base,
            "allowed_groups": [ds.group_dn("data-science")],
            "admin_groups": [ds.group_dn("hub-admins")],
            "test_user": PROBE,
            "test_password_file": _secret(tmp_path, "probe.pw", PASSWORDS[PROBE]),
        }
        hub = {"authenticator": "ldap"}
        # with impersonation the kernel runs as the directory user's local account (created at first login)
        gateway = {k: v for k, v in tomllib.loads(installed.answers_path.read_text())["gateway"].items() if k != "user"}
        gateway["impersonation"] = True

        # refused before any change: a wrong service password, a CA that did not sign the server's certificate
        _refused(
            installed,
            tmp_path,
            "wrong-service-password",
            "service bind",
            hub=hub,
            ldap={**ldap, "service_password_file": _secret(tmp_path, "wrong.pw", "not-it")},
        )
        _refused(
            installed,
            tmp_path,
            "wrong-ca",
            "tls",
            hub=hub,
            ldap={**ldap, "ca_file": str(ds.wrong_ca_file)},
        )

        r, took = _switch(installed, tmp_path, "ldap", hub=hub, gateway=gateway, ldap=ldap)
        out = r.stdout + r.stderr
        TIMINGS.append(f"switch to LDAP + impersonation (gate, hub and gateway restart, health): {took:.0f}s")
        assert r.returncode == 0, out[-5000:]
        assert f"{PROBE} logged in and ran spark.range(1000).count() = 1000 via the gateway" in out
        assert ds.service_password not in out and PASSWORDS[PROBE] not in out

        # the directory user, in a real browser: Lab, a notebook on the gateway's kernel, a Spark cell
        timings: dict = {}
        t0 = time.monotonic()
        text = run_spark_cell_in_lab(
            L.hub_url,
            ALICE,
            PASSWORDS[ALICE],
            L.a.kernels.display_name,
            timeout=240,
            code="import os; (spark.range(1000).count(), os.getuid())",
            timings=timings,
        )
        TIMINGS.append(f"LDAP user in Chromium: login -> Spark cell {time.monotonic() - t0:.0f}s {timings}")
        alice = pwd.getpwnam(ALICE)  # created at first login (ldap.local_accounts = create)
        assert text == f"(1000, {alice.pw_uid})", text

        assert _is_admin(L, ALICE)  # ldap.admin_groups
        assert not _is_admin(L, PROBE)

        # outside the allowed group: the hub refuses the sign-in (and makes no account)
        with pytest.raises(health.HealthError, match="login as"):
            health.login_and_spark_job(L.hub_url, BOB, PASSWORDS[BOB], L.a.kernels.name, timeout=60)
        with pytest.raises(KeyError):
            pwd.getpwnam(BOB)

        # the directory down: the doctor names it
        ds.stop()
        doc = wizard("doctor", "--answers", str(tmp_path / "ldap.toml"))
        print(doc.stdout[-2000:])
        assert "[✗] hub: LDAP directory" in doc.stdout and "connect failed" in doc.stdout, doc.stdout[-3000:]
        assert doc.returncode != 0
        ds.start()
        doc = wizard("doctor", "--answers", str(tmp_path / "ldap.toml"))
        assert "[✓] hub: LDAP directory" in doc.stdout, doc.stdout[-3000:]


def _is_admin(L, name: str) -> bool:
    """What the hub recorded for the user (its database, read only)."""
    db = sqlite3.connect(f"file:{L.hub_state_dir}/jupyterhub.sqlite?mode=ro", uri=True)
    try:
        row = db.execute("select admin from users where name = ?", (name,)).fetchone()
    finally:
        db.close()
    return bool(row and row[0])


def _provider_login(page, hub_url: str, user: str, password: str, timeout_ms: float) -> None:
    """The hub's login sends the browser to the provider's page: sign in there, allow, and back to the hub."""
    import re

    page.goto(f"{hub_url}/hub/oauth_login", timeout=timeout_ms)
    page.wait_for_selector("#login", timeout=timeout_ms)  # the provider's own login form
    assert not page.url.startswith(hub_url), page.url
    page.fill("#login", user)
    page.fill("#password", password)
    page.click("#submit")
    page.wait_for_selector("#allow", timeout=timeout_ms)  # its consent page
    page.click("#allow")
    page.wait_for_url(re.compile("^" + re.escape(hub_url) + r"/(?!hub/(login|oauth_callback))"), timeout=timeout_ms)


def test_oidc_users_sign_in_at_the_provider_and_run_spark(installed, tmp_path, accounts_cleanup, back_to_pam):
    from tests.oidc_provider import OidcProvider

    L = installed.layout
    secret = "client-" + os.urandom(16).hex()
    callback = f"{L.hub_url}/hub/oauth_callback"
    with OidcProvider(
        clients=[{"client_id": "jupyterhub", "client_secret": secret, "redirect_uris": [callback]}],
        users={SSO: {"password": PASSWORDS[SSO], "groups": ["data-science", "hub-admins"]}},
    ) as idp:
        oidc = {
            "issuer": idp.issuer,
            "client_id": "jupyterhub",
            "client_secret_file": _secret(tmp_path, "client.secret", secret),
            "scopes": ["openid", "profile", "groups"],
            "allowed_groups": ["data-science"],
            "admin_groups": ["hub-admins"],
        }
        hub = {"authenticator": "oidc", "public_url": L.hub_url}
        # the same provider by another name: its discovery answers, with an issuer that is not this one
        other_name = idp.issuer.replace("127.0.0.1", "localhost")
        _refused(installed, tmp_path, "wrong-issuer", "issuer", hub=hub, oidc={**oidc, "issuer": other_name})
        wrong = _secret(tmp_path, "wrong.secret", "not-the-secret")
        _refused(
            installed, tmp_path, "wrong-client-secret", "client", hub=hub, oidc={**oidc, "client_secret_file": wrong}
        )

        r, took = _switch(installed, tmp_path, "oidc", hub=hub, oidc=oidc)
        out = r.stdout + r.stderr
        TIMINGS.append(f"switch to OpenID Connect (gate, hub restart, health): {took:.0f}s")
        assert r.returncode == 0, out[-5000:]
        assert f"the hub's login sends users to {idp.issuer.rstrip('/')}" in out, out[-3000:]
        assert secret not in out

        timings: dict = {}
        t0 = time.monotonic()
        text = run_spark_cell_in_lab(
            L.hub_url,
            SSO,
            PASSWORDS[SSO],
            L.a.kernels.display_name,
            timeout=240,
            timings=timings,
            login=_provider_login,
        )
        TIMINGS.append(f"OIDC user in Chromium: provider login -> Spark cell {time.monotonic() - t0:.0f}s {timings}")
        assert text == "1000", text
        assert pwd.getpwnam(SSO).pw_uid >= 1000  # its local account, made at first sign-in
        assert _is_admin(L, SSO)  # oidc.admin_groups
        assert secret not in L.hub_config.read_text()
        doc = wizard("doctor", "--answers", str(tmp_path / "oidc.toml"))
        assert f"[✓] hub: OpenID provider: {idp.issuer}: discovery ok; issuer ok" in doc.stdout, doc.stdout[-3000:]
        assert secret not in doc.stdout + doc.stderr


def test_the_config_fragments_sign_in_with_the_installs_own_hub(installed):
    """The LDAP and OIDC fragments loaded into the authenticators of the hub venv this install built (the unit
    tests skip these without one): members in, others refused, admin groups, a CA that does not verify."""
    hub_python = str(installed.layout.hub_venv / "bin" / "python")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-rs",
            "tests/unit/test_directory.py",
            "tests/unit/test_oidc.py",
            "-k",
            "test_hub_ or test_fragment_",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "JEGW_HUB_PYTHON": hub_python},
        cwd=Path(__file__).resolve().parents[2],
    )
    print(r.stdout[-1500:])
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert "skipped" not in r.stdout.splitlines()[-1], r.stdout[-1500:]
