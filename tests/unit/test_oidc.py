"""jeg_wizard.oidc's live check and the hub's OIDC config fragment, against a real OpenID Connect
provider (panva's oidc-provider, tests/oidc/) with a real login form."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from jeg_wizard import oidc
from tests.oidc_provider import LoginFailed, OidcProvider, ProviderUnavailable, authorize_code

HUB = "http://127.0.0.1:8000"
CALLBACK = oidc.callback_url(HUB)
SECRET = "Client-Secret-" + secrets.token_urlsafe(12)
PASSWORDS = {name: f"pw-{name}-" + secrets.token_urlsafe(8) for name in ("alice", "bob", "carol")}
USERS = {
    "alice": {"password": PASSWORDS["alice"], "groups": ["data-science"]},
    "bob": {"password": PASSWORDS["bob"], "groups": ["marketing"]},
    "carol": {"password": PASSWORDS["carol"], "groups": ["data-science", "hub-admins"]},
}


@pytest.fixture(scope="module")
def op():
    try:
        with OidcProvider([{"client_id": "hub", "client_secret": SECRET, "redirect_uris": [CALLBACK]}], USERS) as p:
            yield p
    except ProviderUnavailable as e:
        pytest.skip(str(e))


def cfg(issuer: str, **over) -> SimpleNamespace:
    base = dict(
        issuer=issuer,
        client_id="hub",
        scopes=["openid", "profile", "groups"],
        username_claim="preferred_username",
        groups_claim="groups",
        allowed_groups=["data-science"],
        admin_groups=["hub-admins"],
        timeout=5.0,
        local_accounts="nss",
        ca_file="",
    )
    base.update(over)
    return SimpleNamespace(**base)


def run(c, secret=SECRET, callback=CALLBACK, public=HUB):
    return oidc.check(c, client_secret=secret, callback_url=callback, hub_public_url=public)


def no_secret_in(hops):
    for h in hops:
        assert SECRET not in h.detail and "Client-Secret" not in h.detail, h
        assert not any(pw in h.detail for pw in PASSWORDS.values()), h


def test_callback_url():
    assert oidc.callback_url("https://hub.example.org/") == "https://hub.example.org/hub/oauth_callback"
    assert oidc.callback_url("http://127.0.0.1:8000") == "http://127.0.0.1:8000/hub/oauth_callback"


def test_every_hop_ok(op):
    hops = run(cfg(op.issuer))
    assert [h.name for h in hops] == ["discovery", "issuer", "callback", "client"]
    assert all(h.ok for h in hops), hops
    assert "warning" not in hops[0].detail, hops[0]  # groups scope and claim are both published
    assert "client_secret_basic" in hops[-1].detail
    no_secret_in(hops)


def test_reachable_is_discovery_and_issuer(op):
    hops = oidc.reachable(cfg(op.issuer))
    assert [(h.name, h.ok) for h in hops] == [("discovery", True), ("issuer", True)]


def test_wrong_issuer_names_both(op):
    wrong = op.issuer + "/"  # a trailing slash is another issuer: the ID token's iss would not match
    hops = run(cfg(wrong))
    assert [(h.name, h.ok) for h in hops] == [("discovery", True), ("issuer", False)]
    assert repr(op.issuer) in hops[-1].detail and repr(wrong) in hops[-1].detail
    assert "oidc.issuer" in hops[-1].detail


def test_issuer_without_discovery(op):
    hops = run(cfg(op.issuer + "/realms/nope"))
    assert [(h.name, h.ok) for h in hops] == [("discovery", False)]
    assert "HTTP 404" in hops[0].detail and "oidc.issuer" in hops[0].detail


def test_unreachable_issuer():
    with socket.socket() as s:  # a port nobody listens on (bound, not listening)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        hops = run(cfg(f"http://127.0.0.1:{port}"))
    assert [(h.name, h.ok) for h in hops] == [("discovery", False)]
    assert "refused" in hops[0].detail and "oidc.issuer" in hops[0].detail


def test_silent_issuer_times_out():
    with socket.socket() as s:  # accepts connections (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        hops = oidc.check(
            cfg(f"http://127.0.0.1:{s.getsockname()[1]}"),
            client_secret=SECRET,
            callback_url=CALLBACK,
            hub_public_url=HUB,
            timeout=0.5,
        )
    assert not hops[0].ok and "within 0.5 s" in hops[0].detail


def test_tls_error_is_named():
    """An https issuer whose certificate the system store does not trust (the provider here is plain
    http: the handshake fails, named as TLS)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        port = s.getsockname()[1]

        import threading

        def answer():
            conn, _ = s.accept()
            conn.recv(1024)
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            conn.close()

        threading.Thread(target=answer, daemon=True).start()
        hops = run(cfg(f"https://127.0.0.1:{port}"))
    assert not hops[0].ok and "TLS" in hops[0].detail, hops


def test_missing_ca_file_is_named(op, tmp_path):
    hops = oidc.reachable(cfg(op.issuer), ca_file=str(tmp_path / "nope.pem"))
    assert not hops[0].ok and "oidc.ca_file" in hops[0].detail


def test_callback_on_another_host(op):
    hops = run(cfg(op.issuer), callback="http://hub.example.org:8000/hub/oauth_callback")
    assert [h.name for h in hops] == ["discovery", "issuer", "callback"] and not hops[-1].ok
    assert "hub.example.org" in hops[-1].detail and "127.0.0.1" in hops[-1].detail
    assert "hub.public_url" in hops[-1].detail


def test_callback_other_port_or_scheme(op):
    assert not run(cfg(op.issuer), callback="http://127.0.0.1:8001/hub/oauth_callback")[-1].ok
    assert not run(cfg(op.issuer), callback="https://127.0.0.1:8000/hub/oauth_callback")[-1].ok
    ok = run(
        cfg(op.issuer), callback="https://hub.example.org/hub/oauth_callback", public="https://hub.example.org:443/"
    )
    assert ok[2].ok, ok  # the default port, written or not


def test_http_on_network_host_warns(op):
    public = "http://hub.example.org:8000"
    hops = run(cfg(op.issuer), callback=oidc.callback_url(public), public=public)
    assert hops[2].ok and "warning: plain http" in hops[2].detail


def test_wrong_client_secret_refused(op):
    hops = run(cfg(op.issuer), secret="not-the-secret-" + secrets.token_urlsafe(8))
    assert hops[-1].name == "client" and not hops[-1].ok
    assert "invalid_client" in hops[-1].detail
    assert "oidc.client_id" in hops[-1].detail and "oidc.client_secret_file" in hops[-1].detail
    assert "not-the-secret" not in hops[-1].detail
    no_secret_in(hops)


def test_wrong_client_id_refused(op):
    hops = run(cfg(op.issuer, client_id="nobody"))
    assert hops[-1].name == "client" and not hops[-1].ok and "oidc.client_id" in hops[-1].detail


def test_no_client_secret(op):
    hops = run(cfg(op.issuer), secret=None)
    assert hops[-1].name == "client" and not hops[-1].ok and "oidc.client_secret_file" in hops[-1].detail


def test_secret_post_only_provider():
    """A client registered for client_secret_post: the basic attempt is refused, the post one accepted."""
    secret = "Client-Secret-post-" + secrets.token_urlsafe(8)
    client = {"client_id": "hub", "client_secret": secret, "redirect_uris": [CALLBACK]}
    try:
        with OidcProvider([client | {"token_endpoint_auth_method": "client_secret_post"}], USERS) as p:
            hops = run(cfg(p.issuer), secret=secret)
    except ProviderUnavailable as e:
        pytest.skip(str(e))
    assert hops[-1].ok, hops
    assert secret not in hops[-1].detail


def test_groups_scope_warnings(op):
    hops = run(cfg(op.issuer, scopes=["openid", "profile"], groups_claim="roles"))
    assert hops[0].ok
    assert "'roles' not in the provider's claims_supported" in hops[0].detail
    assert "'groups' scope that oidc.scopes does not ask for" in hops[0].detail
    hops = run(cfg(op.issuer, scopes=["openid", "profile", "groups", "wishes"]))
    assert "oidc.scopes wishes not in the provider's scopes_supported" in hops[0].detail


def test_authorize_code_checks_the_password(op):
    assert authorize_code(op, "hub", CALLBACK, "alice", PASSWORDS["alice"])
    with pytest.raises(LoginFailed, match="login refused"):
        authorize_code(op, "hub", CALLBACK, "alice", "wrong-" + PASSWORDS["alice"])
    with pytest.raises(LoginFailed, match="login refused"):
        authorize_code(op, "hub", CALLBACK, "mallory", PASSWORDS["alice"])
    assert PASSWORDS["alice"] not in op.log() and SECRET not in op.log()


# --- the hub's config fragment (templates/auth_oidc.py.j2), in a real JupyterHub + OAuthenticator ---

HUB_PYTHON = os.environ.get("JEGW_HUB_PYTHON", "")
_hub_ok = bool(HUB_PYTHON) and (
    subprocess.run([HUB_PYTHON, "-c", "import jupyterhub, oauthenticator.generic"], capture_output=True).returncode == 0
    if Path(HUB_PYTHON).exists()
    else False
)
needs_hub = pytest.mark.skipif(
    not _hub_ok,
    reason="set JEGW_HUB_PYTHON to a python with jupyterhub 6.1 and oauthenticator (e.g. the hub venv's bin/python) "
    "to run the OIDC config fragment in a real authenticator",
)
