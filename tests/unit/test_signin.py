"""hub.authenticator = ldap | oidc: the answers' rules, what is saved, the plan's words, the gate's seam, the
secrets' copy, the configs, and the health step's redirect check (the live checks themselves run against real
servers in test_directory.py and test_oidc.py)."""

from __future__ import annotations

import http.server
import threading

import pytest

from jeg_wizard import health, plan, render, signin
from jeg_wizard.answers import AnswersError, dump, parse
from jeg_wizard.layout import Layout
from jeg_wizard.tui import answers_file
from jeg_wizard.tui.form import initial_values, to_data

LDAP = {
    "url": "ldap://127.0.0.1:3890",
    "start_tls": True,
    "service_dn": "cn=reader,dc=example,dc=org",
    "service_password_env": "JEGW_T_SERVICE",
    "user_search_base": "ou=people,dc=example,dc=org",
    "allowed_groups": ["cn=ds,ou=groups,dc=example,dc=org"],
    "test_user": "probe",
    "test_password_env": "JEGW_T_PROBE",
}
OIDC = {"issuer": "http://127.0.0.1:9/oidc", "client_id": "hub", "client_secret_env": "JEGW_T_CLIENT"}


def refused(data: dict) -> list[str]:
    with pytest.raises(AnswersError) as e:
        parse(data)
    return e.value.problems


def test_pam_is_the_default_and_the_sections_stay_out_of_saved_answers():
    a = parse({})
    assert a.hub.authenticator == "pam" and a.ldap is None and a.oidc is None
    text = answers_file.render(a, password_typed=False)
    assert "[ldap]" not in text and "[oidc]" not in text
    b = parse({"hub": {"authenticator": "ldap"}, "ldap": LDAP})
    assert dump(b)["ldap"]["url"] == LDAP["url"] and "oidc" not in dump(b)


@pytest.mark.parametrize(
    "data, named",
    [
        ({"hub": {"authenticator": "ldap"}}, "ldap: the [ldap] section is required"),
        ({"hub": {"authenticator": "oidc"}}, "oidc: the [oidc] section is required"),
        ({"hub": {"authenticator": "kerberos"}}, "hub.authenticator: must be one of 'pam', 'ldap' or 'oidc'"),
        ({"ldap": {**LDAP, "url": "http://x"}}, "ldap.url: must be ldap://HOST[:PORT] or ldaps://HOST[:PORT]"),
        ({"ldap": {**LDAP, "url": "ldaps://x", "start_tls": True}}, "ldap.start_tls: only with ldap://"),
        ({"ldap": {**LDAP, "bind_dn_templates": ["uid={username},dc=x"]}}, "ldap.service_dn: give either"),
        ({"ldap": {**LDAP, "service_password_file": "/root/pw"}}, "give ldap.service_password_file or"),
        ({"ldap": {**LDAP, "service_password_env": ""}}, "ldap.service_password_file: is required"),
        ({"ldap": {**LDAP, "service_password": "hunter2"}}, "ldap.service_password: secrets are not kept"),
        ({"ldap": {**LDAP, "test_user": ""}}, "ldap.test_user: is required"),
        ({"ldap": {**LDAP, "test_user": "Bob Smith"}}, "ldap.test_user: must be a unix user name"),
        ({"ldap": {**LDAP, "user_search_base": ""}}, "ldap.user_search_base: is required with ldap.service_dn"),
        ({"ldap": {**LDAP, "bogus": 1}}, "ldap.bogus: unknown key"),
        ({"oidc": {**OIDC, "scopes": ["profile"]}}, "oidc.scopes: must contain openid"),
        ({"oidc": {**OIDC, "client_secret": "s3cret"}}, "oidc.client_secret: secrets are not kept"),
        ({"oidc": {**OIDC, "issuer": "ftp://x"}}, "oidc.issuer: must be an http:// or https:// URL"),
        ({"hub": {"public_url": "https://u:p@x"}}, "hub.public_url: must be a plain http(s)://HOST"),
    ],
)
def test_bad_sign_in_answers_are_refused_naming_the_key(data, named):
    problems = refused(data)
    assert any(named in p for p in problems), problems
    assert not any("hunter2" in p or "s3cret" in p for p in problems)


def test_the_form_keeps_a_section_only_for_the_authenticator_chosen():
    a = parse({})
    values = initial_values(a)
    assert values["hub.authenticator"] == "pam" and values["ldap.url"] == ""
    assert "ldap" not in to_data(values, a) and "oidc" not in to_data(values, a)
    chosen = {**values, "hub.authenticator": "ldap", "ldap.url": "ldaps://dir.example.org"}
    assert to_data(chosen, a)["ldap"]["url"] == "ldaps://dir.example.org"
    b = parse({"hub": {"authenticator": "ldap"}, "ldap": LDAP})
    assert initial_values(b)["ldap.allowed_groups"] == LDAP["allowed_groups"][0]


class _Ctx:
    def __init__(self, a):
        self.answers = a


def test_the_plan_says_who_signs_in_and_warns_of_passwords_in_clear():
    lines = plan.signin_lines(parse({"hub": {"authenticator": "ldap"}, "ldap": LDAP}))
    assert lines[0].startswith("sign-in: ldap at ldap://127.0.0.1:3890, checked live") and len(lines) == 1
    clear = plan.signin_lines(parse({"hub": {"authenticator": "ldap"}, "ldap": {**LDAP, "start_tls": False}}))
    assert "every user's password crosses the network in clear" in clear[1]
    assert plan.signin_lines(parse({})) == []


def test_the_gate_names_a_secret_it_cannot_read_before_trying_the_server(monkeypatch):
    monkeypatch.delenv("JEGW_T_SERVICE", raising=False)
    a = parse({"hub": {"authenticator": "ldap"}, "ldap": LDAP})
    assert signin.problems(a, Layout(a)) == [
        "ldap.service_password_env: environment variable JEGW_T_SERVICE is not set or empty"
    ]
    assert signin.problems(parse({}), Layout(parse({}))) == []


def test_the_hub_reads_its_own_copy_of_the_secret(tmp_path):
    a = parse({"system": {"state_dir": str(tmp_path / "s")}, "hub": {"authenticator": "ldap"}, "ldap": LDAP})
    L = Layout(a)
    assert L.signin_secret_file == tmp_path / "s" / "secrets" / "ldap-service-password"
    assert ("hub", "ldap secret", L.signin_secret_file, "root") in L.secret_files
    binds = parse(
        {
            "hub": {"authenticator": "ldap"},
            "ldap": {
                **LDAP,
                "service_dn": "",
                "service_password_env": "",
                "user_search_base": "",
                "bind_dn_templates": ["uid={username},dc=x"],
            },
        }
    )
    assert Layout(binds).signin_secret_file is None  # no service account: nothing to keep
    assert Layout(parse({})).signin_secret_file is None


def test_directory_users_are_not_listed_for_the_gateway_with_impersonation():
    pam = parse({"gateway": {"impersonation": True}})
    ldap = parse({"gateway": {"impersonation": True}, "hub": {"authenticator": "ldap"}, "ldap": LDAP})
    gw = "jupyter_enterprise_gateway_config.py.j2"
    assert "authorized_users" in render.render(gw, render.context(Layout(pam)))
    assert "c.EnterpriseGatewayApp.authorized_users" not in render.render(gw, render.context(Layout(ldap)))


class _Redirect(http.server.BaseHTTPRequestHandler):
    location = ""

    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(302)
        self.send_header("Location", self.location)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_the_health_check_follows_the_hubs_login_to_the_provider():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hub = f"http://127.0.0.1:{server.server_port}"
    callback = f"{hub}/hub/oauth_callback"
    try:
        _Redirect.location = f"http://sso.test/auth?client_id=hub&redirect_uri={callback}&state=x"
        assert "sends users to http://sso.test/auth" in health.oidc_login_redirect(hub, callback, "hub")
        with pytest.raises(health.HealthError, match="client_id"):
            health.oidc_login_redirect(hub, callback, "other")
        _Redirect.location = "http://sso.test/auth?client_id=hub&redirect_uri=http://elsewhere/cb"
        with pytest.raises(health.HealthError, match="hub.public_url"):
            health.oidc_login_redirect(hub, callback, "hub")
    finally:
        server.shutdown()
