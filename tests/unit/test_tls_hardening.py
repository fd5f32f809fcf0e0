"""Gateway hardening and TLS: the rendered configs, the generated CA/certificate, and a real TLS
handshake on loopback with the right CA and with a wrong one."""

from __future__ import annotations

import http.server
import ssl
import threading

import httpx
import pytest

from jeg_wizard import health, render, tls
from jeg_wizard.answers import AnswersError
from jeg_wizard.layout import Layout

from .test_plan import dry


def _gateway_config(a) -> str:
    return render.render("jupyter_enterprise_gateway_config.py.j2", render.context(Layout(a)))


class _Section(dict):
    """What traitlets' Config does for `c.Class.trait = value` (traitlets is not in the wizard's venv)."""

    def __getattr__(self, name):
        if name[0].isupper():
            return self.setdefault(name, _Section())
        return self[name]

    def __setattr__(self, name, value):
        self[name] = value


def _exec_config(text: str) -> _Section:
    """Run a rendered config file the way traitlets loads it: plain Python with get_config()."""
    cfg = _Section()
    exec(compile(text, "config", "exec"), {"get_config": lambda: cfg, "__name__": "config"})
    return cfg


def test_gateway_hardening_defaults(tmp_answers, tmp_path):
    a = tmp_answers()
    text = _gateway_config(a)
    Layout(a).gateway_token_file.parent.mkdir(parents=True)
    Layout(a).gateway_token_file.write_text("t0k3n\n")
    cfg = _exec_config(text)
    eg = cfg.EnterpriseGatewayApp
    assert eg.auth_token == "t0k3n" and eg.port_retries == 0 and eg.ip == "127.0.0.1"
    assert {"root", a.gateway.user} <= eg.unauthorized_users
    assert eg.max_kernels_per_user == 4 and eg.max_kernels == 16
    assert cfg.MappingKernelManager.cull_idle_timeout == 3600 and cfg.MappingKernelManager.cull_interval == 300
    assert cfg.KernelSpecManager.whitelist == {"spark_python_local"}
    assert "certfile" not in eg and "port_range" not in eg


def test_sudoers_are_refused_kernels(tmp_answers, tmp_path):
    import grp
    import pwd

    a = tmp_answers(gateway={"unauthorized_groups": ["root"]})  # group root: user root, present everywhere
    Layout(a).gateway_token_file.parent.mkdir(parents=True)
    Layout(a).gateway_token_file.write_text("t\n")
    members = set(grp.getgrnam("root").gr_mem) | {p.pw_name for p in pwd.getpwall() if p.pw_gid == 0}
    assert members <= _exec_config(_gateway_config(a)).EnterpriseGatewayApp.unauthorized_users


def test_limits_off_culling_off_and_port_range(tmp_answers):
    a = tmp_answers(
        gateway={"max_kernels": 0, "max_kernels_per_user": 0, "cull_idle_timeout": 0, "port_range": "40000..41000"}
    )
    text = _gateway_config(a)
    assert "max_kernels_per_user = -1" in text and "max_kernels = None" in text
    assert "cull_idle_timeout" not in text and 'port_range = "40000..41000"' in text


@pytest.mark.parametrize(
    "over, key",
    [
        ({"port_range": "40000..40500"}, "gateway.port_range"),
        ({"port_range": "9..99999"}, "gateway.port_range"),
        ({"max_kernels_per_user": -1}, "gateway.max_kernels_per_user"),
        ({"unauthorized_groups": ["Bad Group"]}, "gateway.unauthorized_groups"),
        ({"tls": "files"}, "gateway.tls_cert"),
        ({"tls": "maybe"}, "gateway.tls"),
        ({"tls_cert": "/etc/hostname"}, "gateway.tls_cert"),
        ({"tls": "generate", "tls_names": ["bad name!"]}, "gateway.tls_names"),
        ({"tls_names": ["gw.example.org"]}, "gateway.tls_names"),
    ],
)
def test_bad_hardening_answers_name_the_key(tmp_answers, over, key):
    with pytest.raises(AnswersError) as e:
        tmp_answers(gateway=over)
    assert key in str(e.value), str(e.value)


def test_hub_tls_needs_both_files(tmp_answers, tmp_path):
    cert = tmp_path / "hub.pem"
    cert.write_text("x")
    with pytest.raises(AnswersError, match="hub.tls_key: is required too"):
        tmp_answers(hub={"tls_cert": str(cert)})
    with pytest.raises(AnswersError, match="hub.tls_cert: no such file"):
        tmp_answers(hub={"tls_cert": str(tmp_path / "nope.pem"), "tls_key": str(cert)})


def test_tls_generate_renders_https_everywhere(tmp_answers):
    a = tmp_answers(gateway={"tls": "generate"})
    L = Layout(a)
    assert L.gateway_url.startswith("https://127.0.0.1:")
    gw = _gateway_config(a)
    assert f'certfile = "{L.gateway_cert_file}"' in gw and f'keyfile = "{L.gateway_key_file}"' in gw
    hub = render.render("jupyterhub_config.py.j2", render.context(L))
    assert f'"JUPYTER_GATEWAY_URL": "{L.gateway_url}"' in hub
    assert f'"JUPYTER_GATEWAY_CA_CERTS": "{L.gateway_ca_file}"' in hub
    render.check_python(hub, "hub")
    server = render.render("jupyter_server_config.py.j2", render.context(L))
    render.check_python(server, "server")
    assert '_connection_args["ca_certs"]' in server


def test_tls_plan_masks_keys_and_lists_files(tmp_answers, tmp_path):
    from jeg_wizard.plan import render_plan

    a = tmp_answers(gateway={"tls": "generate"})
    ctx, engine = dry(a)
    text = render_plan(engine.plan(), ctx)
    L = Layout(a)
    assert f"{L.tls_ca_key}: secret file created, mode 600 (content not shown)" in text
    assert f"{L.gateway_key_file}: secret file created" in text
    assert "PRIVATE KEY" not in text
    assert "BEGIN CERTIFICATE" in text  # the public certificates are shown as diffs


def test_generated_material_is_kept_while_good(tmp_answers):
    a = tmp_answers(gateway={"tls": "generate"})
    L = Layout(a)
    m = tls.generated_material(L)
    assert m.generated == ["private CA", f"gateway certificate for {', '.join(tls.gateway_names(a))}"]
    L.tls_dir.mkdir(parents=True)
    for path, data in (
        (L.gateway_ca_file, m.ca_cert),
        (L.tls_ca_key, m.ca_key),
        (L.gateway_cert_file, m.cert),
        (L.gateway_key_file, m.key),
    ):
        path.write_bytes(data)
    again = tls.generated_material(L)
    assert again.generated == [] and again.cert == m.cert and again.ca_cert == m.ca_cert
    host = "127.0.0.1"
    assert "signed by CN=jeg-wizard private CA" in tls.check_gateway_files(
        L.gateway_cert_file, L.gateway_key_file, L.gateway_ca_file, host
    )
    # a new name: a new certificate from the same CA
    b = tmp_answers(gateway={"tls": "generate", "tls_names": ["gw.example.org"]})
    third = tls.generated_material(Layout(b))
    assert third.ca_cert == m.ca_cert and third.cert != m.cert
    assert "gw.example.org" in tls.cert_names(tls.x509.load_pem_x509_certificate(third.cert))


def test_check_names_each_certificate_problem(tmp_path):
    ca1, ca1_key = tls.new_ca()
    ca2, _ = tls.new_ca("another CA")
    cert, key = tls.new_server_cert(ca1, ca1_key, ["localhost", "127.0.0.1"])
    _, other_key = tls.new_server_cert(ca1, ca1_key, ["localhost"])
    f = {n: tmp_path / n for n in ("ca1", "ca2", "cert", "key", "other")}
    for n, data in (("ca1", ca1), ("ca2", ca2), ("cert", cert), ("key", key), ("other", other_key)):
        f[n].write_bytes(data)
    assert "days left" in tls.check_gateway_files(f["cert"], f["key"], f["ca1"], "127.0.0.1")
    with pytest.raises(tls.TLSError, match="was not signed by the CA in"):
        tls.check_gateway_files(f["cert"], f["key"], f["ca2"], "127.0.0.1")
    with pytest.raises(tls.TLSError, match="is not the private key of the certificate"):
        tls.check_gateway_files(f["cert"], f["other"], f["ca1"], "127.0.0.1")
    with pytest.raises(tls.TLSError, match="does not name 'gw.example.org'.*127.0.0.1, localhost"):
        tls.check_gateway_files(f["cert"], f["key"], f["ca1"], "gw.example.org")
    with pytest.raises(tls.TLSError, match="not a PEM certificate"):
        tls.check_gateway_files(f["key"], f["key"], f["ca1"], "127.0.0.1")


@pytest.fixture
def https_server(tmp_path):
    """A real HTTPS server on loopback with a certificate from a freshly generated CA."""
    ca, ca_key = tls.new_ca()
    cert, key = tls.new_server_cert(ca, ca_key, ["127.0.0.1"])
    (tmp_path / "ca.pem").write_bytes(ca)
    (tmp_path / "cert.pem").write_bytes(cert)
    (tmp_path / "key.pem").write_bytes(key)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b'{"version": "x"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    sslctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sslctx.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    srv.socket = sslctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"https://127.0.0.1:{srv.server_address[1]}", tmp_path / "ca.pem"
    srv.shutdown()
    srv.server_close()


def test_handshake_verifies_with_the_ca_and_names_the_problem_without_it(https_server, tmp_path):
    url, ca = https_server
    assert health.hub_version(url, verify=str(ca)) == "x"
    wrong, _ = tls.new_ca("wrong CA")
    (tmp_path / "wrong.pem").write_bytes(wrong)
    with pytest.raises(
        health.HealthError, match="TLS certificate verification failed: .*(unable to get local issuer|self.signed)"
    ):
        health.hub_version(url, verify=str(tmp_path / "wrong.pem"))
    with pytest.raises(httpx.HTTPError):
        httpx.get(url, verify=True)  # the system's CAs do not know the private CA


def test_an_admin_who_is_a_sudoer_is_refused_before_anything_changes(tmp_answers):
    import grp
    import pwd

    from jeg_wizard import preflight

    someone = pwd.getpwuid(0).pw_name  # root: primary group root, on every machine
    a = tmp_answers(gateway={"unauthorized_groups": [grp.getgrgid(0).gr_name]})
    assert preflight.group_members(a.gateway.unauthorized_groups)[someone] == grp.getgrgid(0).gr_name
    assert preflight._admin_not_refused(a) == []  # the tmp admin does not exist
    b = a.model_copy(
        update={
            "users": a.users.model_copy(update={"admin": "daemon"}),
            "gateway": a.gateway.model_copy(update={"unauthorized_groups": ["daemon"]}),
        }
    )
    (msg,) = preflight._admin_not_refused(b)
    assert msg.startswith("users.admin: 'daemon' is a member of daemon, and the gateway refuses kernels")
