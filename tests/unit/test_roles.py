"""Roles on separate hosts (answers [site]): validation, this host's role, the plan of each role, the
join file the gateway host writes and the hub host reads, and the hub host's checks across the hop."""

from __future__ import annotations

import errno
import json
import socket
import ssl

import httpx
import pytest

from jeg_wizard import checks, join, roles, tls
from jeg_wizard.answers import AnswersError, parse
from jeg_wizard.engine import Engine, make_context
from jeg_wizard.layout import Layout
from jeg_wizard.plan import render_plan
from jeg_wizard.runner import DryRunRunner
from jeg_wizard.steps import STEPS, for_role

from .conftest import DEBIAN12

GW, HUB, WORKER = "10.231.0.1", "10.231.0.2", "10.231.0.3"
SITE = {"gateway_host": GW, "hub_host": HUB}


@pytest.fixture
def site(tmp_answers):
    """Answers of a two-host site (plus keyword overrides per section)."""

    def make(**over):
        over["site"] = {**SITE, **over.get("site", {})}
        return tmp_answers(**over)

    return make


def problems(data: dict) -> list[str]:
    with pytest.raises(AnswersError) as e:
        parse(data, DEBIAN12)
    return e.value.problems


# ------------------------------------------------------------------ answers


def test_no_site_is_one_host_unchanged(tmp_answers):
    a = tmp_answers()
    assert not a.site.split
    assert a.gateway.ip == "127.0.0.1" and a.gateway.tls == "off"
    assert roles.detect(a) == "all" and roles.detect(a, "all") == "all"
    assert STEPS == for_role("all") and "join" not in [s.id for s in STEPS]


def test_split_site_defaults_listen_on_the_gateway_host_with_tls(site):
    a = site()
    assert (a.gateway.ip, a.gateway.tls) == (GW, "generate")
    assert Layout(a, "hub").gateway_url == f"https://{GW}:8888" == Layout(a, "gateway").gateway_url
    assert GW in tls.gateway_names(a)  # the certificate names the address the hub host uses
    named = site(site={"gateway_host": "gw.example.org"})
    assert named.gateway.ip == "0.0.0.0" and Layout(named, "hub").gateway_url == "https://gw.example.org:8888"
    assert "gw.example.org" in tls.gateway_names(named)
    plain = site(site={"plain_http": True})
    assert plain.gateway.tls == "off" and Layout(plain, "hub").gateway_url == f"http://{GW}:8888"


@pytest.mark.parametrize(
    "data,expect",
    [
        ({"site": {"gateway_host": GW, "hub_host": GW}}, f"site.hub_host: must differ from site.gateway_host ({GW})"),
        ({"site": {"gateway_host": GW}}, "site.hub_host: is required when site.gateway_host is set"),
        ({"site": {"hub_host": HUB}}, "site.gateway_host: is required when site.hub_host is set"),
        ({"site": {**SITE, "hub_host": "a b"}}, "site.hub_host: must be an IP address or a DNS name the other hosts"),
        ({"site": {**SITE, "gateway_host": "0.0.0.0"}}, "site.gateway_host: must be an address the other hosts reach"),
        ({"site": {**SITE, "gateway_host": "localhost"}}, "site.gateway_host: must be an address the other hosts"),
        ({"site": {**SITE, "worker_hosts": [GW]}}, f"site.worker_hosts: {GW} (item 1) is already site.gateway_host"),
        ({"site": {**SITE, "worker_hosts": ["x y"]}}, "site.worker_hosts: must be an IP address or a DNS name"),
        ({"site": {**SITE, "worker_hosts": [WORKER]}}, "site.worker_hosts: Spark workers join a standalone master"),
        ({"site": {"worker_hosts": [WORKER]}}, "site.worker_hosts: only used with site.gateway_host and site.hub_host"),
        ({"site": {"plain_http": True}}, "site.plain_http: only used with site.gateway_host and site.hub_host"),
        ({"site": {**SITE, "plain_http": "yes"}}, "site.plain_http: "),
        ({"site": {**SITE, "hub": "x"}}, "site.hub: unknown key; allowed here: gateway_host, hub_host, worker_hosts"),
        ({"site": SITE, "gateway": {"ip": "127.0.0.1"}}, "gateway.ip: 127.0.0.1 is loopback: the hub host"),
        ({"site": SITE, "gateway": {"ip": "10.9.9.9"}}, f"gateway.ip: 10.9.9.9 is not site.gateway_host ({GW})"),
        ({"site": SITE, "gateway": {"tls": "off"}}, "gateway.tls: 'off' would send the gateway token"),
        (
            {"site": {**SITE, "plain_http": True}, "gateway": {"tls": "generate"}},
            "site.plain_http: true asks for plain HTTP between the hosts but gateway.tls is 'generate'",
        ),
        (
            {"site": SITE, "spark": {"master": "spark://10.231.0.9:7077"}},
            f"spark.master: the standalone master runs on the gateway host: spark://{GW}:7077",
        ),
        ({"site": SITE, "gateway": {"impersonation": True}}, "gateway.impersonation: not available with roles on"),
    ],
)
def test_bad_site_answers_name_the_key_and_what_is_allowed(data, expect):
    found = problems(data)
    assert any(expect in p for p in found), found


def test_workers_with_a_standalone_master_on_the_gateway_host(site):
    a = site(site={"worker_hosts": [WORKER]}, spark={"master": f"spark://{GW}:7077"})
    assert a.site.worker_hosts == [WORKER]


# ------------------------------------------------------------------ this host's role


def here(*addresses):
    return lambda ip: ip in addresses


def test_role_found_from_this_hosts_addresses(site):
    a = site(site={"worker_hosts": [WORKER]}, spark={"master": f"spark://{GW}:7077"})
    assert roles.detect(a, here=here(GW)) == "gateway"
    assert roles.detect(a, here=here("192.168.1.5", HUB)) == "hub"
    assert roles.detect(a, here=here(WORKER)) == "worker"
    assert roles.detect(a, "hub", here=here(GW)) == "hub"  # --role wins
    assert roles.worker_host(a, here=here(WORKER)) == WORKER


@pytest.mark.parametrize(
    "given,addresses,expect",
    [
        (None, (), "--role: none of the site's addresses is on this host (gateway: 10.231.0.1; hub: 10.231.0.2"),
        (None, (GW, HUB), "--role: this host has the addresses of several roles (gateway, hub"),
        ("all", (GW,), "--role all: the answers' [site] puts the gateway on 10.231.0.1 and the hub on 10.231.0.2"),
        ("master", (GW,), "--role: unknown role 'master'; allowed: all, gateway, hub, worker"),
    ],
)
def test_role_errors(site, given, addresses, expect):
    with pytest.raises(AnswersError) as e:
        roles.detect(site(), given, here=here(*addresses))
    assert expect in str(e.value)


def test_a_role_without_a_site_is_refused(tmp_answers):
    with pytest.raises(AnswersError, match=r"--role gateway: the answers have no \[site\]"):
        roles.detect(tmp_answers(), "gateway")


# ------------------------------------------------------------------ plan per role


def plan(a, role, join_=None):
    ctx = make_context(a, DryRunRunner(probe_results={}), dry_run=True, role=role, join=join_)
    states = Engine(ctx, for_role(role)).plan()
    return states, render_plan(states, ctx)


def actions(states, step):
    return [a.title for st in states if st.step.id == step for a in st.actions]


def test_plan_of_each_role_has_only_its_steps(site):
    a = site(spark={"master": f"spark://{GW}:7077"})
    gw_states, gw_text = plan(a, "gateway")
    assert [s.step.id for s in gw_states] == [
        "system",
        "java",
        "spark",
        "environment",
        "spark_smoke",
        "kernelspecs",
        "gateway",
        "join",
        "services",
        "health",
    ]
    # the gateway host's kernels map the class archive its smoke job writes; a worker runs only the job
    assert any("JVM class archive" in t for t in actions(gw_states, "spark_smoke"))
    assert "this host's role: gateway: the gateway host" in gw_text
    assert f"write {Layout(a).join_file}" in actions(gw_states, "join")
    assert actions(gw_states, "services") == ["service spark-master running", "service spark-worker running"]
    assert f"--host {GW} --port 7077" in gw_text and "/jeg/hub/bin/" not in gw_text
    assert f"# wait for https://{GW}:8888/api" in gw_text

    hub_states, hub_text = plan(a, "hub")
    assert [s.step.id for s in hub_states] == [
        "system",
        "join",
        "proxy",
        "hub",
        "gateway_client",
        "admin_user",
        "hub_config",
        "services",
        "health",
    ]
    assert actions(hub_states, "services") == ["service hub running"]
    from jeg_wizard.steps.services import hub_spec

    hub_ctx = make_context(a, DryRunRunner(probe_results={}), dry_run=True, role="hub")
    L = hub_ctx.layout  # a new join restarts the hub (its user servers hold the old token)
    assert hub_spec(hub_ctx).config_files == [str(L.hub_config), str(L.gateway_token_file), str(L.gateway_ca_file)]
    assert f'+    "JUPYTER_GATEWAY_URL": "https://{GW}:8888",' in hub_text
    assert "spark-master" not in hub_text and "jupyter-enterprisegateway" not in hub_text
    assert any("from the hub host" in t for t in actions(hub_states, "health"))

    wk_states, wk_text = plan(site(site={"worker_hosts": [WORKER]}, spark={"master": f"spark://{GW}:7077"}), "worker")
    ids = [s.step.id for s in wk_states]
    assert ids == ["system", "java", "spark", "environment", "spark_smoke", "kernelspecs", "services"]
    assert [t for t in actions(wk_states, "spark_smoke") if "Spark runs a job" in t] == [
        "Spark runs a job: spark.range(100).count() == 100"
    ]
    # the executors' Python at the driver's PYSPARK_PYTHON path, and no kernelspec on a worker
    (venv,) = actions(wk_states, "kernelspecs")
    assert str(Layout(site(), "worker").kernel_venv) in venv, venv
    assert actions(wk_states, "services") == ["service spark-worker running"]
    assert f"org.apache.spark.deploy.worker.Worker --host {WORKER} --webui-port 8381 spark://{GW}:7077" in wk_text


def test_gateway_host_with_worker_hosts_starts_no_local_worker(site):
    a = site(site={"worker_hosts": [WORKER]}, spark={"master": f"spark://{GW}:7077"})
    states, _ = plan(a, "gateway")
    assert actions(states, "services") == ["service spark-master running"]
    assert list(Layout(a, "gateway").ports) == ["gateway", "spark-master"]
    assert list(Layout(a, "hub").ports) == ["hub"]
    assert list(Layout(a, "worker").ports) == ["spark-worker"]


def test_plain_http_is_a_warning_in_the_plan(site):
    _, text = plan(site(site={"plain_http": True}), "gateway")
    assert (
        f"warning: site.plain_http = true: the hub host ({HUB}) talks to the gateway host ({GW}) in plain HTTP" in text
    )
    _, secure = plan(site(), "gateway")
    assert "warning: site.plain_http" not in secure


# ------------------------------------------------------------------ the join file


@pytest.fixture
def gateway_joined(site, tmp_path):
    """The gateway host's join step run for real (a CA in place as the gateway step leaves it): its file."""
    a = site()
    L = Layout(a, "gateway")
    ca_pem, _ = tls.new_ca()
    L.tls_dir.mkdir(parents=True)
    L.gateway_ca_file.write_bytes(ca_pem)
    ctx = make_context(a, log_to_file=False, role="gateway")
    [join_step] = [s for s in for_role("gateway") if s.id == "join"]
    st = Engine(ctx, [join_step]).install()
    assert [s.status for s in st] == ["ok"]
    return a, L.join_file, ctx.secrets.gateway_token(), ca_pem.decode()


def test_the_gateway_host_writes_a_private_join_file(gateway_joined):
    a, path, token, ca = gateway_joined
    assert path.stat().st_mode & 0o777 == 0o600
    body = json.loads(path.read_text())
    assert body == {"jeg_wizard_join": 1, "gateway_url": f"https://{GW}:8888", "gateway_token": token, "ca_pem": ca}
    got = join.read(path, Layout(a, "hub"))
    assert (got.gateway_url, got.token, got.ca_pem) == (f"https://{GW}:8888", token, ca)


def test_the_hub_host_takes_the_token_and_the_ca(gateway_joined, tmp_path):
    a, path, token, ca = gateway_joined
    hub = a.model_copy(update={"system": a.system.model_copy(update={"state_dir": str(tmp_path / "hub-state")})})
    joined = join.read(path, Layout(hub, "hub"))
    ctx = make_context(hub, log_to_file=False, role="hub", join=joined)
    [join_step] = [s for s in for_role("hub") if s.id == "join"]
    Engine(ctx, [join_step]).install()
    L = ctx.layout
    assert L.gateway_token_file.read_text() == token + "\n"
    assert L.gateway_token_file.stat().st_mode & 0o777 == 0o600
    assert L.gateway_ca_file.read_text() == ca
    assert token not in ctx.runner.redactor(f"token {token}")  # known to the redactor: never in a log line
    # a re-run without --join finds what the join left
    again = make_context(hub, log_to_file=False, role="hub")
    assert [s.status for s in Engine(again, [join_step]).install()] == ["done"]


def _write(path, text, mode=0o600):
    path.write_text(text)
    path.chmod(mode)
    return path


def _valid(ca: str, url: str = f"https://{GW}:8888", **over) -> dict:
    return {"jeg_wizard_join": 1, "gateway_url": url, "gateway_token": "t" * 64, "ca_pem": ca, **over}


@pytest.mark.parametrize(
    "case,expect",
    [
        ("mode", "readable by group or others (mode 644); it holds the gateway token: run chmod 600"),
        ("not-json", "not JSON"),
        ("list", "not a JSON object"),
        ("missing", "missing key 'gateway_token'"),
        ("unknown", 'unknown key "extra"; allowed: jeg_wizard_join, gateway_url, gateway_token, ca_pem'),
        ("url", 'gateway_url is "https://10.231.0.9:8888" but the answers give https://10.231.0.1:8888'),
        ("token", "gateway_token is not a token"),
        ("ca", "ca_pem is not a PEM certificate"),
        ("not-ca", "ca_pem is a certificate but not a CA's"),
        ("no-ca", "ca_pem is empty, but the gateway speaks TLS"),
        ("version", "jeg_wizard_join is 2; this jeg-wizard reads version 1"),
        ("type", "gateway_token must be a string, got int"),
        ("dir", "--join: "),
    ],
)
def test_a_bad_join_file_is_named_before_any_change(site, tmp_path, case, expect):
    L = Layout(site(), "hub")
    ca_pem, ca_key = tls.new_ca()
    server, _ = tls.new_server_cert(ca_pem, ca_key, [GW])
    ca = ca_pem.decode()
    f = tmp_path / "join.json"
    body = {
        "mode": None,
        "not-json": "{not json",
        "list": "[]",
        "missing": json.dumps({k: v for k, v in _valid(ca).items() if k != "gateway_token"}),
        "unknown": json.dumps(_valid(ca, extra=1)),
        "url": json.dumps(_valid(ca, "https://10.231.0.9:8888")),
        "token": json.dumps(_valid(ca, gateway_token="has spaces in it, not a token")),
        "ca": json.dumps(_valid("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")),
        "not-ca": json.dumps(_valid(server.decode())),
        "no-ca": json.dumps(_valid("")),
        "version": json.dumps(_valid(ca, jeg_wizard_join=2)),
        "type": json.dumps(_valid(ca, gateway_token=5)),
    }.get(case)
    if case == "dir":
        f.mkdir()
    else:
        _write(f, body if body is not None else json.dumps(_valid(ca)), 0o644 if case == "mode" else 0o600)
    with pytest.raises(join.JoinError) as e:
        join.read(f, L)
    assert expect in str(e.value)
    assert "t" * 64 not in str(e.value)  # the token is never echoed


def test_install_with_a_bad_join_file_changes_nothing(site, tmp_path, monkeypatch, capsys):
    from jeg_wizard import cli

    a_file = tmp_path / "site.toml"
    a_file.write_text(
        f'[system]\nstate_dir = "{tmp_path}/state"\nlog_dir = "{tmp_path}/log"\nprefix = "{tmp_path}/opt"\n'
        f'[site]\ngateway_host = "{GW}"\nhub_host = "{HUB}"\n'
    )
    bad = _write(tmp_path / "join.json", "{}", 0o600)
    code = cli.main(["install", "--unattended", str(a_file), "--role", "hub", "--join", str(bad)])
    err = capsys.readouterr().err
    assert code == 2 and "the join file is not valid; nothing was changed" in err and "missing key 'gateway_url'" in err
    assert not (tmp_path / "state").exists() and not (tmp_path / "log").exists()
    code = cli.main(["install", "--unattended", str(a_file), "--role", "hub"])
    err = capsys.readouterr().err
    assert code == 2 and "--join: this is the hub host and it has no gateway token yet" in err
    assert not (tmp_path / "state").exists()


# ------------------------------------------------------------------ checks across the hop


def _site_install(a, role="hub"):
    L = Layout(a, role)
    L.secrets_dir.mkdir(parents=True)
    L.gateway_token_file.write_text("t" * 64 + "\n")
    L.gateway_token_file.chmod(0o600)
    L.tls_dir.mkdir(parents=True)
    L.gateway_ca_file.write_bytes(tls.new_ca()[0])  # as the join left it
    return checks.Install(L, timeout=1)


def _refused() -> httpx.ConnectError:
    """A real refused connection's error, as httpx raises it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
        except httpx.ConnectError as e:
            return e
    raise AssertionError("a closed port answered")


def _fail_with(exc):
    def get(url, **kw):
        raise exc

    return get


def _verify_failed(message: str) -> ssl.SSLCertVerificationError:
    """The error ssl raises for a certificate another CA signed (its attributes as the C code sets them)."""
    e = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    e.verify_message, e.reason = message, "CERTIFICATE_VERIFY_FAILED"
    return e


def _chained(outer: Exception, inner: BaseException) -> Exception:
    outer.__cause__ = inner
    return outer


@pytest.mark.parametrize(
    "exc,what,expect",
    [
        (
            _refused(),
            "answers",
            f"hub host cannot reach gateway host {GW}:8888: connection refused (nothing listens on that address",
        ),
        (
            _chained(httpx.ConnectError("x"), OSError(errno.EHOSTUNREACH, "No route to host")),
            "answers",
            f"hub host cannot reach gateway host {GW}:8888: no route to host",
        ),
        (
            httpx.ConnectTimeout("timed out"),
            "answers",
            f"hub host cannot reach gateway host {GW}:8888: no answer within 1s",
        ),
        (
            _chained(httpx.ConnectError("x"), _verify_failed("unable to get local issuer certificate")),
            "TLS",
            f"hub host cannot verify gateway host {GW}:8888: TLS certificate verification failed: unable to get "
            "local issuer certificate",
        ),
    ],
    ids=["refused", "no-route", "timeout", "tls"],
)
def test_hub_host_names_the_hop_when_the_gateway_fails(site, exc, what, expect):
    s = _site_install(site())
    s.get = _fail_with(exc)
    [f] = checks.gateway.answers(s)
    assert (f.what, f.status) == (what, checks.PROBLEM)
    assert expect in f.detail
    assert f.fix and f.log.startswith(f"on the gateway host {GW}: ")
    if what == "TLS":
        assert "join file" in f.detail and "jeg-wizard install --join FILE" in f.fix
    else:
        assert "(gateway.ip), not 127.0.0.1 only" in f.fix
    assert checks.overall([f])[0] == "down" if what == "answers" else True


class _Reply:
    def __init__(self, code, body=None):
        self.status_code, self._body = code, body

    def json(self):
        if self._body is None:
            raise ValueError("no body")
        return self._body


def test_hub_host_says_the_gateway_refuses_the_joined_token(site):
    s = _site_install(site())
    s.get = lambda url, headers=None: _Reply(401)
    found = checks.gateway.answers(s)
    assert [(f.what, f.status) for f in found] == [("token required", "ok"), ("token accepted", "problem")]
    assert f"gateway host {GW}:8888 refuses the token from the join file" in found[1].detail
    assert "jeg-wizard install --join FILE" in found[1].fix


def test_hub_host_gateway_checks_when_all_is_well(site):
    s = _site_install(site())

    def get(url, headers=None):
        if headers is None:
            return _Reply(401)
        if url.endswith("/api"):
            return _Reply(200, {"gateway_version": "3.3.0", "version": "1.24.0"})
        if url.endswith("/api/kernelspecs"):
            return _Reply(200, {"kernelspecs": {s.a.kernels.name: {}}})
        return _Reply(200, [])

    s.get = get
    found = checks.gateway.check(s)
    assert [f.status for f in found] == ["ok"] * len(found)
    assert [f.what for f in found] == ["token required", "version", "transport", "kernelspecs", "kernel listing"]
    transport = next(f for f in found if f.what == "transport")
    assert f"HTTPS to gateway host {GW}:8888, verified against" in transport.detail


def test_plain_http_between_hosts_is_a_warning_on_both_hosts(site):
    a = site(site={"plain_http": True})
    for role in ("gateway", "hub"):
        f = checks.gateway.transport(checks.Install(Layout(a, role)))
        assert (f.status, f.warning) == (checks.PROBLEM, True)
        assert f"plain HTTP between the hub host ({HUB}) and the gateway host ({GW}) (site.plain_http = true)" in (
            f.detail
        )


def test_each_host_checks_its_own_part(site):
    a = site(spark={"master": f"spark://{GW}:7077"})
    assert list(checks.for_role("hub")) == ["services", "gateway", "hub", "proxy", "user servers", "network"]
    assert list(checks.for_role("gateway")) == ["services", "gateway", "kernels", "spark", "network"]
    assert checks.for_role("all") == checks.CHECKS
    assert [k for k, _ in Layout(a, "hub").listen_addresses] == ["hub.ip", "hub.hub_ip", "proxy.api_ip"]
    assert Layout(a, "gateway").listen_addresses == [("gateway.ip", GW)]


def test_each_host_checks_its_own_secret_files(site, tmp_path):
    a = site()
    assert [(c, w, o) for c, w, _, o in Layout(a, "hub").secret_files] == [
        ("hub", "gateway token", "root"),
        ("hub", "proxy token", "root"),
        ("hub", "hub environment", "root"),
        ("hub", "cookie secret", "root"),
    ]
    assert [w for _, w, _, _ in Layout(a, "gateway").secret_files] == [
        "gateway token",
        "TLS key",
        "CA key",
        "join file",
    ]
    s = _site_install(a)  # the joined token, made readable by others: named on the hub host
    s.L.gateway_token_file.chmod(0o644)
    [f] = checks.accounts.secret_files(s, "hub")
    assert f.status == checks.PROBLEM and f"chmod 600 {s.L.gateway_token_file}" == f.fix


def test_the_no_token_fix_on_the_hub_host_is_the_join(site):
    s = checks.Install(Layout(site(), "hub"))
    value, f = checks.gateway.token(s)
    assert value is None and "jeg-wizard install --join FILE" in f.fix
    [no_ca] = checks.gateway.answers(s)  # nor a CA: named, not a crash of every check
    assert (no_ca.what, no_ca.status) == ("TLS", checks.PROBLEM) and "no CA certificate at" in no_ca.detail
    assert "jeg-wizard install --join FILE" in no_ca.fix


@pytest.fixture
def remote_gateway(tmp_path, monkeypatch):
    """A real HTTPS gateway stand-in on loopback (401 without the token, its version with it), with a
    certificate from its own CA; the layout's gateway URL pointed at it (the hop keeps the site's name)."""
    import http.server
    import threading

    ca, ca_key = tls.new_ca()
    cert, key = tls.new_server_cert(ca, ca_key, ["127.0.0.1"])
    (tmp_path / "srv-cert.pem").write_bytes(cert)
    (tmp_path / "srv-key.pem").write_bytes(key)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            ok = self.headers.get("Authorization") == "token " + "t" * 64
            body = json.dumps({"gateway_version": "3.3.0"} if ok else {}).encode()
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(tmp_path / "srv-cert.pem", tmp_path / "srv-key.pem")
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setattr(Layout, "gateway_url", property(lambda self: f"https://127.0.0.1:{srv.server_address[1]}"))
    yield ca
    srv.shutdown()
    srv.server_close()


def test_hub_host_verifies_the_gateway_against_the_joined_ca(site, remote_gateway):
    s = _site_install(site())
    s.L.gateway_ca_file.write_bytes(remote_gateway)  # the CA the join file carried
    found = checks.gateway.answers(s)
    assert [(f.what, f.status) for f in found] == [("token required", "ok"), ("version", "ok")]
    s.close()
    s = _site_install(site(system={"state_dir": str(s.L.state_dir) + "-other"}))  # another site's CA
    [f] = checks.gateway.answers(s)
    assert (f.what, f.status) == ("TLS", checks.PROBLEM)
    assert f"hub host cannot verify gateway host {GW}:8888: TLS certificate verification failed" in f.detail
    s.close()


def _master_says(s, workers):
    s.get = lambda url, **kw: _Reply(200, {"workers": workers, "cores": 4})


def test_the_gateway_host_names_the_worker_hosts_the_master_lacks(site):
    a = site(site={"worker_hosts": [WORKER, "10.231.0.4"]}, spark={"master": f"spark://{GW}:7077"})
    s = checks.Install(Layout(a, "gateway"))
    _master_says(s, [{"host": WORKER, "state": "ALIVE"}, {"host": "10.231.0.4", "state": "DEAD"}])
    [f] = checks.spark.master(s)
    assert f.status == checks.PROBLEM
    assert f"spark://{GW}:7077 has no live worker from worker host 10.231.0.4 (1 live: {WORKER})" in f.detail
    _master_says(s, [{"host": h, "state": "ALIVE"} for h in (WORKER, "10.231.0.4")])
    assert [f.status for f in checks.spark.master(s)] == ["ok"]


def test_a_worker_host_checks_it_is_a_live_worker_of_the_master(site, monkeypatch, tmp_path):
    a = site(site={"worker_hosts": [WORKER]}, spark={"master": f"spark://{GW}:7077"})
    L = Layout(a, "worker")
    assert "spark" in checks.for_role("worker")
    s = checks.Install(L)
    _master_says(s, [])
    [f] = checks.spark.master(s)
    assert f"worker host {WORKER} is not a live worker of the master on gateway host {GW} (0 live: none)" in f.detail
    _master_says(s, [{"host": WORKER, "state": "ALIVE"}])
    [f] = checks.spark.master(s)
    assert f.status == checks.OK
    # the doctor also looks for the Python the driver names for the executors
    [_, py] = checks.spark.check(s)
    assert py.status == checks.PROBLEM and f"worker host {WORKER} has no {L.pyspark_python}" in py.detail
    assert "install --role worker" in py.fix
    python = tmp_path / "python"
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    monkeypatch.setattr(Layout, "pyspark_python", str(python))
    assert [f.status for f in checks.spark.check(s)] == [checks.OK, checks.OK]
    s.get = _fail_with(_refused())
    [f] = checks.spark.master(s)
    assert f"worker host {WORKER} cannot reach the Spark master on gateway host {GW} (http://{GW}:8380/json/): " in (
        f.detail
    )
    assert "connection refused" in f.detail


def test_each_role_titles_its_steps_for_its_part():
    titles = {r: {s.id: s.title for s in for_role(r)} for r in ("all", "gateway", "hub", "worker")}
    assert titles["all"]["services"] == "Start the hub (and a standalone Spark cluster when configured)"
    assert titles["hub"]["services"] == "Start the hub"
    assert titles["gateway"]["services"].startswith("Start the Spark master")
    assert titles["worker"]["services"].startswith("Start the Spark worker")
    assert "across the hop" in titles["hub"]["health"]
    assert [s.title for s in STEPS] == list(titles["all"].values())
