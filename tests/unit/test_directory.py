"""directory.check/reachable and the hub's LDAP config fragment, against a real slapd (tests/ldap_server.py)."""

import ast
import json
import os
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

from jeg_wizard import directory, render
from tests.ldap_server import LdapServer, free_port

PASSWORDS = {
    "alice": "Alice-Secret-7q2",  # staff
    "bob": "Bob-Secret-4k9",  # uniq (groupOfUniqueNames)
    "carol": "Carol-Secret-1x5",  # admins
    "dave": "Dave-Secret-8m3",  # px (posixGroup)
    "erin": "Erin-Secret-2w6",  # in no group
    "daemon": "Daemon-Secret-5t1",  # a local account here too (nss)
    "Mixed.Case": "Mixed-Secret-9z4",  # no local account can have this name
}
SERVICE_PASSWORD = "Reader-Secret-3c8"
ALL_SECRETS = [*PASSWORDS.values(), SERVICE_PASSWORD]


@pytest.fixture(scope="module")
def srv():
    with LdapServer(
        users=PASSWORDS,
        groups={"staff": ["alice", "daemon", "Mixed.Case"], "admins": ["carol"], "empty": []},
        unique_groups={"uniq": ["bob"]},
        posix_groups={"px": ["dave"]},
        service_password=SERVICE_PASSWORD,
        host="localhost",  # what the hub's ldap3 can match on any Python (see test_ip_address_url)
    ) as s:
        yield s


def conf(srv, **over):
    values = {
        "url": srv.url,
        "start_tls": True,
        "ca_file": str(srv.ca_file),
        "bind_dn_templates": [],
        "service_dn": srv.service_dn,
        "user_search_base": srv.people_base,
        "user_attribute": "uid",
        "allowed_groups": [srv.group_dn("staff")],
        "admin_groups": [srv.group_dn("admins")],
        "local_accounts": "create",
        "test_user": "alice",
        "timeout": 3.0,
    }
    values.update(over)
    return SimpleNamespace(**values)


def run(cfg, service_password=SERVICE_PASSWORD, test_password=None):
    if test_password is None:
        test_password = PASSWORDS.get(cfg.test_user, "Unknown-Secret-0")
    hops = directory.check(cfg, service_password=service_password, test_password=test_password)
    no_secrets(hops)
    return hops


def no_secrets(hops):
    for hop in hops:
        assert "\n" not in hop.detail
        for secret in ALL_SECRETS:
            assert secret not in hop.detail, hop


def last(hops):
    """The failing hop (the last), after every hop before it passed."""
    assert all(h.ok for h in hops[:-1]), hops
    assert not hops[-1].ok, hops
    return hops[-1]


HOPS = ["connect", "tls", "service bind", "user lookup", "user bind", "groups", "local account"]


def test_starttls_all_hops_pass(srv):
    hops = run(conf(srv))
    assert [h.name for h in hops] == HOPS
    assert all(h.ok for h in hops), hops
    tls = hops[1].detail
    assert "StartTLS" in tls and "verified" in tls and "not encrypted" not in tls
    assert srv.user_dn("alice") in hops[4].detail
    assert srv.group_dn("staff") in hops[5].detail and "not an admin" in hops[5].detail


def test_ldaps_all_hops_pass(srv):
    hops = run(conf(srv, url=srv.ldaps_url, start_tls=False))
    assert all(h.ok for h in hops) and len(hops) == 7, hops
    assert hops[1].detail.startswith("LDAPS to ")


def test_ip_address_url(srv):
    """ldap3 matches the certificate to the host itself (as in the hub): with an IP address, Python's
    ssl.match_hostname does it up to 3.11; from 3.12 ldap3's fallback takes DNS names only."""
    url = srv.ldaps_url.replace("localhost", "127.0.0.1")
    hops = run(conf(srv, url=url, start_tls=False))
    if sys.version_info < (3, 12):
        assert all(h.ok for h in hops), hops
    else:
        hop = last(hops)
        assert hop.name == "tls" and "ldap3" in hop.detail and "ldap.url" in hop.detail


def test_ip_address_url_with_ldap3s_fallback_match(srv, monkeypatch):
    """What Python >= 3.12 does (no ssl.match_hostname): ldap3's own match refuses the IP address."""
    import ldap3.core.tls
    import ldap3.utils.tls_backport

    monkeypatch.setattr(ldap3.core.tls, "match_hostname", ldap3.utils.tls_backport.match_hostname)
    monkeypatch.setattr(ldap3.core.tls, "CertificateError", ldap3.utils.tls_backport.CertificateError)
    hop = last(run(conf(srv, url=srv.url.replace("localhost", "127.0.0.1"))))
    assert hop.name == "tls" and "ldap3 (the hub's LDAP library) does not match" in hop.detail, hop
    assert "ldap.url" in hop.detail
    assert all(h.ok for h in run(conf(srv)))  # a DNS name it matches


def test_plain_ldap_passes_with_a_warning(srv):
    hops = run(conf(srv, start_tls=False))
    assert all(h.ok for h in hops), hops
    assert "not encrypted: passwords cross the network in clear" in hops[1].detail


def test_port_closed():
    port = free_port()
    cfg = SimpleNamespace(url=f"ldap://127.0.0.1:{port}", start_tls=True, ca_file="", service_dn="", timeout=2.0)
    hops = directory.reachable(cfg, service_password=None)
    hop = last(hops)
    assert hop.name == "connect" and f"127.0.0.1:{port}" in hop.detail and "ldap.url" in hop.detail
    assert "refused" in hop.detail.lower()


def test_name_does_not_resolve(srv):
    hop = last(run(conf(srv, url="ldap://no-such-host.invalid")))
    assert hop.name == "connect" and "does not resolve" in hop.detail


@pytest.mark.parametrize(
    "url", ["ldaps://127.0.0.1:1/x", "http://127.0.0.1", "ldap://127.0.0.1:x", "ldap://u@127.0.0.1", "ldap://:389"]
)
def test_bad_url(srv, url):
    hop = last(run(conf(srv, url=url)))
    assert hop.name == "connect" and hop.detail.startswith("ldap.url: "), hop


def test_a_silent_server_is_waited_for_a_bounded_time():
    import socket
    import time

    with socket.socket() as silent:  # accepts (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        cfg = SimpleNamespace(
            url=f"ldaps://127.0.0.1:{silent.getsockname()[1]}", start_tls=False, ca_file="", service_dn="", timeout=1.0
        )
        t0 = time.monotonic()
        hop = last(directory.reachable(cfg, service_password=None))
        assert time.monotonic() - t0 < 5
    assert hop.name == "tls" and "no TLS handshake within 1 s" in hop.detail


@pytest.mark.parametrize("tls", ["starttls", "ldaps"])
def test_wrong_ca(srv, tls):
    url, start_tls = (srv.url, True) if tls == "starttls" else (srv.ldaps_url, False)
    hop = last(run(conf(srv, url=url, start_tls=start_tls, ca_file=str(srv.wrong_ca_file))))
    assert hop.name == "tls"
    assert "certificate verify failed: self-signed" in hop.detail and "(ldap.ca_file)" in hop.detail


def test_system_store_does_not_know_a_private_ca(srv):
    hop = last(run(conf(srv, url=srv.ldaps_url, start_tls=False, ca_file="")))
    assert hop.name == "tls" and "the system trust store" in hop.detail and "ldap.ca_file" in hop.detail


def test_ca_file_missing(srv, tmp_path):
    hop = last(run(conf(srv, ca_file=str(tmp_path / "nope.pem"))))
    assert hop.name == "tls" and hop.detail.startswith("ldap.ca_file: cannot read")


def test_ldaps_to_the_plain_port(srv):
    hop = last(run(conf(srv, url=srv.url.replace("ldap://", "ldaps://"), start_tls=False)))
    assert hop.name == "tls" and "TLS handshake failed" in hop.detail and "ldap.url" in hop.detail


def test_host_name_not_in_the_certificate():
    with LdapServer(users={"alice": PASSWORDS["alice"]}, cert_hosts=("ldap.example.org",)) as other:
        for url, start_tls in ((other.ldaps_url, False), (other.url, True)):
            cfg = SimpleNamespace(url=url, start_tls=start_tls, ca_file=str(other.ca_file), service_dn="", timeout=3.0)
            hop = last(directory.reachable(cfg, service_password=None))
            assert hop.name == "tls" and "mismatch" in hop.detail and "ldap.url" in hop.detail, hop


def test_wrong_service_password(srv):
    hop = last(run(conf(srv), service_password="Wrong-Secret-6y7"))
    assert hop.name == "service bind"
    assert hop.detail.startswith("ldap.service_dn / ldap.service_password_file: invalid credentials")
    assert "Wrong-Secret-6y7" not in hop.detail


def test_no_service_password(srv):
    hop = last(run(conf(srv), service_password=None))
    assert hop.name == "service bind" and "ldap.service_password_file" in hop.detail


def test_unknown_test_user(srv):
    hop = last(run(conf(srv, test_user="zed")))
    assert hop.name == "user lookup" and "(uid=zed)" in hop.detail and "ldap.test_user" in hop.detail


def test_filter_characters_are_escaped(srv):
    hop = last(run(conf(srv, test_user="*")))
    assert hop.name == "user lookup" and "no entry (uid=\\2a)" in hop.detail


def test_wrong_search_base(srv):
    hop = last(run(conf(srv, user_search_base="ou=nobody,dc=example,dc=org")))
    assert hop.name == "user lookup" and "ldap.user_search_base" in hop.detail


def test_wrong_test_password(srv):
    hop = last(run(conf(srv), test_password="Wrong-Secret-6y7"))
    assert hop.name == "user bind" and "ldap.test_password_file" in hop.detail and "ldap.test_user" in hop.detail
    assert "Wrong-Secret-6y7" not in hop.detail


@pytest.mark.parametrize("password", ["", "  "])
def test_blank_test_password_is_not_an_anonymous_success(srv, password):
    hop = last(run(conf(srv), test_password=password))
    assert hop.name == "user bind" and "ldap.test_password_file" in hop.detail


def test_user_outside_allowed_groups(srv):
    hop = last(run(conf(srv, test_user="erin")))
    assert hop.name == "groups"
    assert srv.group_dn("staff") in hop.detail and "refuse" in hop.detail and "ldap.allowed_groups" in hop.detail


def test_missing_group_is_named(srv):
    missing = "cn=ghost,ou=groups,dc=example,dc=org"
    hop = last(run(conf(srv, test_user="erin", allowed_groups=[missing, srv.group_dn("empty")])))
    assert hop.name == "groups" and f"not found or not readable by erin: {missing}" in hop.detail


@pytest.mark.parametrize(
    "user, group",
    [("bob", "uniq"), ("dave", "px"), ("alice", "staff")],  # uniqueMember, memberUid, member
)
def test_group_kinds(srv, user, group):
    hops = run(conf(srv, test_user=user, allowed_groups=[srv.group_dn(group)], admin_groups=[]))
    assert all(h.ok for h in hops), hops
    assert srv.group_dn(group) in hops[5].detail


def test_admin_group_member_is_let_in_and_is_an_admin(srv):
    hops = run(conf(srv, test_user="carol"))
    assert all(h.ok for h in hops), hops
    assert "an admin of the hub" in hops[5].detail


def test_any_directory_user(srv):
    hops = run(conf(srv, test_user="erin", allowed_groups=[], admin_groups=[]))
    assert all(h.ok for h in hops) and "groups" not in [h.name for h in hops], hops
    hops = run(conf(srv, test_user="erin", allowed_groups=[]))
    assert all(h.ok for h in hops) and "any directory user" in hops[5].detail and "not an admin" in hops[5].detail


def test_bind_dn_templates(srv):
    templates = ["uid={username},ou=nowhere,dc=example,dc=org", "uid={username}," + srv.people_base]
    hops = run(conf(srv, service_dn="", bind_dn_templates=templates))
    assert [h.name for h in hops] == [n for n in HOPS if n != "service bind"]
    assert all(h.ok for h in hops), hops
    lookup = hops[2].detail
    assert lookup.count("uid=alice") == 2 and srv.user_dn("alice") in lookup
    hop = last(run(conf(srv, service_dn="", bind_dn_templates=templates), test_password="Wrong-Secret-6y7"))
    assert hop.name == "user bind" and "invalid credentials" in hop.detail and "ldap.test_password_file" in hop.detail


def test_template_without_username(srv):
    hop = last(run(conf(srv, service_dn="", bind_dn_templates=["uid=alice," + srv.people_base])))
    assert hop.name == "user lookup" and "ldap.bind_dn_templates" in hop.detail


def test_nss_without_the_account(srv):
    hop = last(run(conf(srv, local_accounts="nss")))
    assert hop.name == "local account"
    assert hop.detail == "ldap.local_accounts = nss but alice has no account in the name service (getent passwd)"


def test_nss_with_the_account(srv):
    hops = run(conf(srv, local_accounts="nss", test_user="daemon"))
    assert all(h.ok for h in hops) and "uid 1" in hops[-1].detail, hops


def test_create_refuses_a_name_no_local_account_can_have(srv):
    hop = last(run(conf(srv, test_user="Mixed.Case")))
    assert hop.name == "local account" and "not valid for a local account" in hop.detail


def test_create_new_account(srv):
    assert "creates it at the first sign-in" in run(conf(srv))[-1].detail


def test_reachable(srv):
    hops = directory.reachable(conf(srv), service_password=SERVICE_PASSWORD)
    assert [h.name for h in hops] == ["connect", "tls", "service bind"] and all(h.ok for h in hops)
    hops = directory.reachable(conf(srv, service_dn=""), service_password=None)
    assert [h.name for h in hops] == ["connect", "tls"] and all(h.ok for h in hops)
    hop = last(directory.reachable(conf(srv), service_password="Wrong-Secret-6y7"))
    assert hop.name == "service bind" and "invalid credentials" in hop.detail


def test_slapd_stopped_then_back(srv):
    srv.stop()
    try:
        hop = last(directory.reachable(conf(srv), service_password=SERVICE_PASSWORD))
        assert hop.name == "connect" and "refused" in hop.detail.lower()
    finally:
        srv.start()
    assert all(h.ok for h in run(conf(srv)))  # same data, same ports


def test_server_restart_keeps_data(srv):
    assert srv.url.startswith("ldap://localhost:") and srv.ldaps_url.startswith("ldaps://localhost:")
    assert srv.user_dn("bob") == "uid=bob,ou=people,dc=example,dc=org"
    assert srv.group_dn("staff") == "cn=staff,ou=groups,dc=example,dc=org"


def test_directory_imports_stay_light():
    code = (
        "import sys, jeg_wizard.directory; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('ldap3', 'textual', 'pydantic') "
        "or m.startswith(('jeg_wizard.actions', 'jeg_wizard.steps'))]; print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- the hub's config fragment (templates/auth_ldap.py.j2)


def ldap_context(srv, password_file, **over):
    values = {k: v for k, v in vars(conf(srv)).items()}
    values.update(over)
    return {"ldap": values, "hub": {"signin_secret_file": str(password_file), "admin_user": "hubadmin"}}


def render_config(ctx) -> str:
    """The fragment as jupyterhub_config.py.j2 has it: after get_config(), with the admin/roster lines."""
    fragment = render.render("auth_ldap.py.j2", ctx)  # check_shape: no value escaped its literal
    head = textwrap.dedent(
        """\
        c = get_config()  # noqa: F821
        c.Authenticator.admin_users = ["hubadmin"]
        c.Authenticator.allowed_users = ["hubadmin", "erin"]
        """
    )
    return head + fragment


@pytest.mark.parametrize("mode", ["service", "templates", "ldaps-any-user", "nss"])
def test_fragment_renders(srv, tmp_path, mode):
    over = {
        "service": {},
        "templates": {"service_dn": "", "bind_dn_templates": ["uid={username}," + srv.people_base]},
        "ldaps-any-user": {"url": srv.ldaps_url, "start_tls": False, "allowed_groups": [], "ca_file": ""},
        "nss": {"local_accounts": "nss"},
    }[mode]
    text = render_config(ldap_context(srv, tmp_path / "pw", **over))
    compile(text, "jupyterhub_config.py", "exec")
    assert "ssl.CERT_REQUIRED" in text
    assert ("lookup_dn_search_password" in text) == (mode != "templates")
    assert ("allow_all = True" in text) == (mode == "ldaps-any-user")
    assert ("create_system_users = True" in text) == (mode != "nss")
    for secret in ALL_SECRETS:
        assert secret not in text
    # the answers object itself (not a dict) renders the same
    ns = ldap_context(srv, tmp_path / "pw", **over)
    ns["ldap"] = SimpleNamespace(**ns["ldap"])
    assert render_config(ns) == text


def test_fragment_keeps_hostile_values_in_their_literals(srv, tmp_path):
    hostile = '"); import os; os.system("id"); ("\\ \u00e9'
    ctx = ldap_context(
        srv,
        tmp_path / hostile,
        url=f"ldap://x{hostile}",
        ca_file=hostile,
        service_dn=hostile,
        user_search_base=hostile,
        user_attribute=hostile,
        allowed_groups=[hostile],
        admin_groups=[hostile, hostile],
    )
    text = render_config(ctx)  # render.check_shape refuses a value that left its literal
    imported = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            imported |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert "os" not in imported and "ldapauthenticator" in imported
    ctx["ldap"].update(service_dn="", bind_dn_templates=[hostile])
    compile(render_config(ctx), "jupyterhub_config.py", "exec")


HUB_DRIVER = r"""
import asyncio, json, os, sys
from traitlets.config.loader import PyFileConfigLoader

path = sys.argv[1]
cases = json.load(sys.stdin)  # passwords on stdin, never in argv
cfg = PyFileConfigLoader(os.path.basename(path), path=os.path.dirname(path)).load_config()
cls = cfg.JupyterHub.authenticator_class
auth = cls(config=cfg)

async def main():
    out = []
    for username, password in cases:
        r = await auth.get_authenticated_user(None, {"username": username, "password": password})
        out.append(None if r is None else {"name": r["name"], "admin": r["admin"]})
    return out

print(json.dumps({
    "mro": [k.__name__ for k in cls.__mro__],
    "create": auth.create_system_users,
    "results": asyncio.run(main()),
}))
"""


@pytest.fixture(scope="module")
def hub_python():
    python = os.environ.get("JEGW_HUB_PYTHON")
    if not python:
        pytest.skip(
            "JEGW_HUB_PYTHON is not set: point it at a python with jupyterhub 6.1 and "
            "jupyterhub-ldapauthenticator 2.0 (the install's hub venv) to sign in through the rendered config"
        )
    return python


def hub_login(hub_python, tmp_path, ctx, cases):
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(render_config(ctx))
    out = subprocess.run(
        [hub_python, "-c", HUB_DRIVER, str(config)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    for secret in ALL_SECRETS:
        assert secret not in out.stdout
    return json.loads(out.stdout.strip().splitlines()[-1])


CASES = [
    ("alice", PASSWORDS["alice"]),  # staff: in
    ("alice", "Wrong-Secret-6y7"),  # wrong password: out
    ("erin", PASSWORDS["erin"]),  # no group, but in allowed_users (the roster): in
    ("bob", PASSWORDS["bob"]),  # no allowed group: out
    ("carol", PASSWORDS["carol"]),  # admins: in, as an admin
    ("zed", "Zed-Secret-0"),  # not in the directory: out
    ("alice", ""),  # blank password: out
]
EXPECTED = [
    {"name": "alice", "admin": False},
    None,
    {"name": "erin", "admin": False},
    None,
    {"name": "carol", "admin": True},
    None,
    None,
]


@pytest.mark.parametrize("mode", ["starttls-service", "ldaps-templates"])
def test_hub_signs_in_through_the_rendered_config(srv, tmp_path, hub_python, mode):
    password_file = tmp_path / "ldap-service-password"
    password_file.write_text(SERVICE_PASSWORD + "\n")
    password_file.chmod(0o600)
    over = {}
    if mode == "ldaps-templates":
        over = {
            "url": srv.ldaps_url,
            "start_tls": False,
            "service_dn": "",
            "bind_dn_templates": ["uid={username}," + srv.people_base],
        }
    got = hub_login(hub_python, tmp_path, ldap_context(srv, password_file, **over), CASES)
    assert got["mro"][:3] == ["LDAPLocalAuthenticator", "LDAPAuthenticator", "LocalAuthenticator"]
    assert got["create"] is True
    assert got["results"] == EXPECTED


def test_hub_refuses_a_server_it_cannot_verify(srv, tmp_path, hub_python):
    ctx = ldap_context(srv, tmp_path / "unused", service_dn="", bind_dn_templates=["uid={username}," + srv.people_base])
    ctx["ldap"]["ca_file"] = str(srv.wrong_ca_file)
    config = tmp_path / "jupyterhub_config.py"
    config.write_text(render_config(ctx))
    out = subprocess.run(
        [hub_python, "-c", HUB_DRIVER, str(config)],
        input=json.dumps([["alice", PASSWORDS["alice"]]]),
        capture_output=True,
        text=True,
        timeout=60,
    )
    # ldapauthenticator lets the TLS error out of the login (the hub answers 500): never a sign-in
    assert out.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in out.stderr
    assert PASSWORDS["alice"] not in out.stderr


def test_hub_any_user_and_admin_groups(srv, tmp_path, hub_python):
    password_file = tmp_path / "ldap-service-password"
    password_file.write_text(SERVICE_PASSWORD)
    ctx = ldap_context(srv, password_file, allowed_groups=[], local_accounts="nss")
    got = hub_login(hub_python, tmp_path, ctx, [["bob", PASSWORDS["bob"]], ["carol", PASSWORDS["carol"]]])
    assert got["create"] is False
    assert got["results"] == [{"name": "bob", "admin": False}, {"name": "carol", "admin": True}]


def test_hub_login_against_a_silent_server_ends(srv, tmp_path, hub_python):
    """The subclass's timeouts: a directory that stopped answering fails the login in seconds."""
    import socket
    import time

    with socket.socket() as silent:  # accepts (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"ldap://localhost:{silent.getsockname()[1]}"
        ctx = ldap_context(srv, tmp_path / "unused", url=url, service_dn="", timeout=1.0)
        ctx["ldap"]["bind_dn_templates"] = ["uid={username}," + srv.people_base]
        config = tmp_path / "jupyterhub_config.py"
        config.write_text(render_config(ctx))
        t0 = time.monotonic()
        out = subprocess.run(
            [hub_python, "-c", HUB_DRIVER, str(config)],
            input=json.dumps([["alice", PASSWORDS["alice"]]]),
            capture_output=True,
            text=True,
            timeout=60,
        )
        took = time.monotonic() - t0
    assert out.returncode != 0 and "timed out" in out.stderr, out.stderr[-2000:]
    assert took < 15, took
