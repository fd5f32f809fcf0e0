"""jeg_wizard.oidc's live check and the hub's OIDC config fragment, against a real OpenID Connect
provider (panva's oidc-provider, tests/oidc/) with a real login form."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from jeg_wizard import oidc
from tests.oidc_provider import LoginFailed, OidcProvider, ProviderUnavailable, authorize_code

HUB = "http://127.0.0.1:8000"
CALLBACK = oidc.callback_url(HUB)
SECRET = "Client-Secret-" + secrets.token_urlsafe(12)
PASSWORDS = {name: f"pw-{name}-" + secrets.token_urlsafe(8) for name in ("alice", "bob", "carol", "daemon", "dave@x")}
USERS = {
    "alice": {"password": PASSWORDS["alice"], "groups": ["data-science"]},
    "bob": {"password": PASSWORDS["bob"], "groups": ["marketing"]},
    "carol": {"password": PASSWORDS["carol"], "groups": ["data-science", "hub-admins"]},
    "daemon": {"password": PASSWORDS["daemon"], "groups": ["data-science", "hub-admins"]},  # a system account here
    "dave@x": {"password": PASSWORDS["dave@x"], "groups": ["data-science"]},  # not a possible account name
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


def test_imports_stay_light():
    """The doctor imports it on its minimal path: no TUI, no answers model, no steps; httpx only when checking."""
    code = "import sys, jeg_wizard.oidc; print(' '.join(sorted(sys.modules)))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = r.stdout.split()
    heavy = [
        m
        for m in loaded
        if m.split(".")[0] in ("textual", "pydantic", "httpx")
        or m.startswith(("jeg_wizard.actions", "jeg_wizard.steps"))
    ]
    assert not heavy, heavy


def test_every_hop_ok(op):
    hops = run(cfg(op.issuer))
    assert [h.name for h in hops] == ["discovery", "issuer", "callback", "client", "redirect"]
    assert all(h.ok for h in hops), hops
    assert "warning" not in hops[0].detail, hops[0]  # groups scope and claim are both published
    assert "client_secret_post" in hops[3].detail  # what the hub's OAuthenticator sends where the provider takes it
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


@pytest.fixture(scope="module")
def tls_op(tmp_path_factory):
    """The provider on https, its certificate signed by a private CA (not in the system store)."""
    from jeg_wizard import tls

    d = tmp_path_factory.mktemp("oidc-tls")
    ca, ca_key = tls.new_ca("oidc test CA")
    cert, key = tls.new_server_cert(ca, ca_key, ["127.0.0.1"])
    for name, pem in (("ca.pem", ca), ("cert.pem", cert), ("key.pem", key)):
        (d / name).write_bytes(pem)
        (d / name).chmod(0o600)
    try:
        with OidcProvider(
            [{"client_id": "hub", "client_secret": SECRET, "redirect_uris": [CALLBACK]}],
            USERS,
            tls=(d / "cert.pem", d / "key.pem"),
        ) as p:
            p.ca_file = str(d / "ca.pem")
            yield p
    except ProviderUnavailable as e:
        pytest.skip(str(e))


def test_tls_provider_with_its_ca(tls_op):
    hops = run(cfg(tls_op.issuer, ca_file=tls_op.ca_file))
    assert all(h.ok for h in hops) and len(hops) == 5, hops
    assert oidc.reachable(cfg(tls_op.issuer), ca_file=tls_op.ca_file)[-1].ok


def test_tls_provider_without_its_ca(tls_op):
    hops = run(cfg(tls_op.issuer))
    assert [(h.name, h.ok) for h in hops] == [("discovery", False)]
    assert "not trusted" in hops[0].detail and "oidc.ca_file" in hops[0].detail, hops


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
    hops = run(cfg(op.issuer), callback=oidc.callback_url(HUB), public=HUB)
    assert hops[2].ok and "warning" not in hops[2].detail


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


def test_basic_only_provider():
    """A provider whose token endpoint takes only client_secret_basic: the check (like the hub) sends that."""
    secret = "Client-Secret-basic-" + secrets.token_urlsafe(8)
    client = {"client_id": "hub", "client_secret": secret, "redirect_uris": [CALLBACK]}
    try:
        with OidcProvider([client], USERS, client_auth_methods=["client_secret_basic"]) as p:
            hops = run(cfg(p.issuer), secret=secret)
            assert hops[3].ok and "client_secret_basic" in hops[3].detail, hops
            hops = run(cfg(p.issuer), secret=secret + "x")
            assert not hops[3].ok and "invalid_client" in hops[3].detail, hops
    except ProviderUnavailable as e:
        pytest.skip(str(e))
    assert not any(secret in h.detail for h in hops)


def test_unregistered_redirect_uri(op):
    """The callback matches hub.public_url but is not registered for the client at the provider."""
    public = "http://hub.example.org:8000"
    hops = run(cfg(op.issuer), callback=oidc.callback_url(public), public=public)
    assert [(h.name, h.ok) for h in hops][2:] == [("callback", True), ("client", True), ("redirect", False)], hops
    assert "hub.example.org:8000/hub/oauth_callback" in hops[-1].detail and "hub.public_url" in hops[-1].detail


def test_unknown_scope_is_not_a_failure(op):
    hops = run(cfg(op.issuer, scopes=["openid", "profile", "groups", "wishes"]))
    assert hops[-1].name == "redirect" and hops[-1].ok, hops


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


def _hub_python_ok() -> bool:
    if not HUB_PYTHON or not Path(HUB_PYTHON).is_file():
        return False
    argv = [HUB_PYTHON, "-c", "import jupyterhub.auth, oauthenticator.generic"]
    return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0


needs_hub = pytest.mark.skipif(
    not _hub_python_ok(),
    reason="set JEGW_HUB_PYTHON to a python with jupyterhub 6.1 and oauthenticator 17 (the hub venv's bin/python) "
    "to load the OIDC config fragment into a real authenticator",
)

# Runs in the hub's python: loads the rendered config the way JupyterHub does, then logs each user in
# through the authenticator's own path (token exchange, userinfo, groups, allowed check) with a code
# the test got from the provider's login form. Prints one JSON line.
HUB_SIDE = r"""
import asyncio, json, logging, sys
logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)  # the authenticator's log, checked for secrets
from traitlets.config.loader import PyFileConfigLoader
from oauthenticator.oauth2 import _serialize_state

job = json.load(sys.stdin)
config = PyFileConfigLoader(job["config"]).load_config()
cls = config.JupyterHub.authenticator_class
auth = cls(config=config)


class Handler:  # what the callback handler gives the authenticator: the code and the PKCE state cookie
    def __init__(self, code, verifier):
        self.code, self.verifier = code, verifier

    def get_argument(self, name, default=None):
        return self.code if name == "code" else default

    def get_state_cookie(self):
        return _serialize_state({"state_id": "x", "code_verifier": self.verifier})


async def main():
    out = {
        "class": cls.__name__,
        "bases": [b.__name__ for b in cls.__mro__],
        "create_system_users": auth.create_system_users,
        "allowed_groups": sorted(auth.allowed_groups),
        "admin_groups": sorted(auth.admin_groups),
        "callback": auth.get_callback_url(None),
        "token_url": auth.token_url,
        "basic_auth": auth.basic_auth,
        "secret_ok": auth.client_secret == job["secret"],
        "users": {},
    }
    for name, (code, verifier) in job["codes"].items():
        try:
            model = await auth.get_authenticated_user(Handler(code, verifier), None)
        except Exception as e:
            out["users"][name] = {"error": f"{type(e).__name__}: {e}"}
            continue
        out["users"][name] = None if model is None else {
            "name": model["name"], "admin": model["admin"], "groups": model.get("groups"),
        }
    print(json.dumps(out))


asyncio.run(main())
"""


def render_fragment(issuer: str, secret_file: Path, **over) -> str:
    from jeg_wizard.render import render

    ctx = {
        "oidc": cfg(issuer, **over),
        "hub": SimpleNamespace(signin_secret_file=str(secret_file), oidc_callback_url=CALLBACK),
    }
    # the fragment is included after `c = get_config()` in jupyterhub_config.py.j2
    return "c = get_config()  # noqa: F821\n" + render("auth_oidc.py.j2", ctx)


def pkce() -> tuple[str, dict]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, {"code_challenge": challenge, "code_challenge_method": "S256"}


def hub_login(op, tmp_path, local_accounts="nss", users=tuple(USERS), ca_file="") -> tuple[dict, str]:
    secret_file = tmp_path / "oidc_client_secret"
    secret_file.write_text(SECRET + "\n")
    secret_file.chmod(0o600)
    text = render_fragment(op.issuer, secret_file, local_accounts=local_accounts, ca_file=ca_file)
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(text)
    codes = {}
    for name in users:
        verifier, challenge = pkce()  # the authenticator sends a PKCE verifier: the code was asked with its challenge
        codes[name] = [
            authorize_code(op, "hub", CALLBACK, name, PASSWORDS[name], extra_params=challenge, ca_file=ca_file),
            verifier,
        ]
    job = json.dumps({"config": str(config), "codes": codes, "secret": SECRET})
    r = subprocess.run([HUB_PYTHON, "-c", HUB_SIDE], input=job, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    assert SECRET not in r.stderr and not any(pw in r.stderr for pw in PASSWORDS.values())
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["log"] = r.stderr
    return out, text


def test_fragment_renders_without_the_secret(tmp_path):
    text = render_fragment("https://id.example.org/realms/x", tmp_path / "secret")
    assert SECRET not in text
    assert "c.LocalAuthenticator.create_system_users = False" in text
    compile(text, "jupyterhub_config.py", "exec")
    text = render_fragment("https://id.example.org/realms/x", tmp_path / "secret", local_accounts="create")
    assert "c.LocalAuthenticator.create_system_users = True" in text


@needs_hub
def test_fragment_in_a_real_authenticator(op, tmp_path):
    out, text = hub_login(op, tmp_path)
    assert SECRET not in text  # read from the 0600 file at hub start
    assert out["secret_ok"] and out["class"] == "JegwOidcAuthenticator" and "LocalAuthenticator" in out["bases"]
    assert out["create_system_users"] is False
    assert out["allowed_groups"] == ["data-science"] and out["admin_groups"] == ["hub-admins"]
    assert out["callback"] == CALLBACK and out["token_url"] == op.issuer + "/token"
    # alice is in data-science: in, not admin; bob (marketing) is refused; carol (hub-admins) is admin.
    # None of them has a local account here: the provider's groups decide, not UNIX groups.
    assert out["users"]["alice"] == {"name": "alice", "admin": False, "groups": ["data-science"]}, out
    assert out["users"]["bob"] is None, out
    assert out["users"]["carol"]["admin"] is True and out["users"]["carol"]["name"] == "carol", out
    # the server would run as that account: a provider's "daemon" (uid 1 here) is refused, group or not
    assert out["users"]["daemon"] is None and "Refusing 'daemon'" in out["log"], out
    assert out["users"]["dave@x"] is None and "invalid username 'dave@x'" in out["log"], out


@needs_hub
def test_fragment_create_local_accounts(op, tmp_path):
    out, _ = hub_login(op, tmp_path, local_accounts="create", users=("alice",))
    assert out["create_system_users"] is True
    assert out["users"]["alice"]["name"] == "alice"


@needs_hub
def test_fragment_with_a_private_ca(tls_op, tmp_path):
    """An https provider signed by a private CA: the hub reads discovery, exchanges the code and reads
    userinfo trusting oidc.ca_file."""
    out, text = hub_login(tls_op, tmp_path, users=("alice",), ca_file=tls_op.ca_file)
    assert out["token_url"].startswith("https://")
    assert out["users"]["alice"] == {"name": "alice", "admin": False, "groups": ["data-science"]}, out


@needs_hub
def test_fragment_without_the_ca_refuses_to_start(tls_op, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET)
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(render_fragment(tls_op.issuer, secret_file))
    load = "from traitlets.config.loader import PyFileConfigLoader; import sys; PyFileConfigLoader(sys.argv[1]).load_config()"
    r = subprocess.run([HUB_PYTHON, "-c", load, str(config)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in r.stderr, r.stderr[-2000:]
    assert SECRET not in r.stderr
