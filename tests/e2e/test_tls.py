"""HTTPS between the user servers and the gateway with a generated private CA (and HTTPS on the hub's
public port with a given certificate), proven by a login -> Spark job; then the same with a wrong CA
fails and the operator is told it is the certificate. Ends back on the plain install."""

from __future__ import annotations

import os
import pwd
import ssl
import stat

import httpx
import pytest
import tomli_w
import tomllib

from jeg_wizard import health, tls
from jeg_wizard.answers import load
from jeg_wizard.layout import Layout

from .conftest import ADMIN, wizard

pytestmark = pytest.mark.e2e


def _write(path, data: bytes, mode: int) -> str:
    path.write_bytes(data)
    os.chmod(path, mode)
    return str(path)


def _tails(L) -> str:
    return "".join(
        f"\n--- end of {n}.log:\n" + "\n".join(L.service_log(n).read_text(errors="replace").splitlines()[-40:])
        for n in ("hub", "gateway")
    )


@pytest.fixture
def tls_install(installed, tmp_path):
    """The shared install switched to TLS for this test, and back to plain HTTP afterwards."""
    data = tomllib.loads(installed.answers_path.read_text())
    data["gateway"] = {**data["gateway"], "tls": "generate"}
    answers = tmp_path / "tls.toml"
    answers.write_text(tomli_w.dumps(data))
    # an earlier test of this install may have had the gateway on TLS (nb2kg's): its CA is kept, not made again
    kept = Layout(load(answers)).gateway_ca_file.exists()
    r = wizard("install", "--unattended", str(answers), env=installed.env)
    try:
        yield r, Layout(load(answers)), data, tmp_path, kept
    finally:
        back = wizard("install", "--unattended", str(installed.answers_path), env=installed.env)
        assert back.returncode == 0, (back.stdout + back.stderr)[-3000:]
        L = installed.layout
        assert L.gateway_url.startswith("http://")
        assert httpx.get(f"{L.gateway_url}/api", timeout=10).status_code in (200, 401)


def test_https_between_user_servers_and_gateway(tls_install, installed):
    r, L, data, tmp_path, kept = tls_install
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    assert ("generated a new private CA" in out) != kept, out[-3000:]
    assert f"{ADMIN} logged in and ran spark.range(1000).count() = 1000 via the gateway" in out
    assert L.gateway_url.startswith("https://127.0.0.1:")

    # the gateway speaks only TLS, with a certificate only our CA vouches for
    plain = L.gateway_url.replace("https://", "http://")
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{plain}/api", timeout=10)
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{L.gateway_url}/api", timeout=10)  # the system's CAs
    ca = ssl.create_default_context(cafile=str(L.gateway_ca_file))
    assert httpx.get(f"{L.gateway_url}/api/kernelspecs", verify=ca, timeout=10).status_code == 401
    ok = httpx.get(
        f"{L.gateway_url}/api/kernelspecs", verify=ca, timeout=10, headers={"Authorization": f"token {installed.token}"}
    )
    assert ok.status_code == 200 and L.a.kernels.name in ok.json()["kernelspecs"]

    # keys: root-only CA key, gateway key readable by the gateway's user alone
    gw = pwd.getpwnam(L.a.gateway.user)
    for path, uid in ((L.tls_ca_key, 0), (L.gateway_key_file, gw.pw_uid)):
        st = path.stat()
        assert (stat.S_IMODE(st.st_mode), st.st_uid) == (0o600, uid), path
    assert stat.S_IMODE(L.gateway_ca_file.stat().st_mode) == 0o644
    # the private keys appear nowhere else: logs, journal, service state, configs, the plan
    keys = [path.read_text().splitlines()[1].encode() for path in (L.tls_ca_key, L.gateway_key_file)]
    scanned = 0
    for base in (L.log_dir, L.state_dir, L.config_dir):
        for f in (p for p in base.rglob("*") if p.is_file()):
            if f.parent == L.tls_dir or "backups" in f.parts or f.suffix == ".sqlite":
                continue
            scanned += 1
            assert not any(k in f.read_bytes() for k in keys), f"a private key line appears in {f}"
    assert scanned > 5
    plan = wizard("plan", str(tmp_path / "tls.toml"), env=installed.env)
    assert plan.returncode == 0, plan.stderr
    assert not any(k.decode() in plan.stdout for k in keys)

    # the user's whole path: hub -> user server -> HTTPS (private CA) -> gateway -> Spark
    smoke = health.login_and_spark_job(L.hub_url, ADMIN, installed.password, L.a.kernels.name, timeout=300)
    assert smoke.result == "1000"
    doc = wizard("doctor", "--answers", str(tmp_path / "tls.toml"))
    assert f"[✓] gateway: transport: HTTPS verified against {L.gateway_ca_file}" in doc.stdout, doc.stdout

    # a second run keeps the CA and the certificate: nothing to do, nothing restarted
    again = wizard("install", "--unattended", str(tmp_path / "tls.toml"), env=installed.env)
    assert again.returncode == 0 and "generated a new" not in again.stdout, again.stdout[-3000:] + _tails(L)
    assert "(0 steps did work" in again.stdout

    # the user servers get another CA than the one that signed the gateway's certificate
    good = L.gateway_ca_file.read_bytes()
    wrong, _ = tls.new_ca("wrong CA")
    L.gateway_ca_file.write_bytes(wrong)
    try:
        restart = wizard("services", "restart", "hub", "--state-dir", str(L.state_dir), timeout=200)
        assert restart.returncode == 0, restart.stdout + restart.stderr  # user servers stop with the hub
        with pytest.raises(health.HealthError, match=f"does not list '{L.a.kernels.name}'"):
            health.login_and_spark_job(L.hub_url, ADMIN, installed.password, L.a.kernels.name, timeout=120)
        doc = wizard("doctor", "--answers", str(tmp_path / "tls.toml"))
        assert doc.returncode != 0
        assert "[✗] gateway: TLS: " in doc.stdout and "TLS certificate verification failed" in doc.stdout, doc.stdout
        assert str(L.gateway_ca_file) in doc.stdout
        hub_log = L.service_log("hub").read_text(errors="replace")
        assert "CERTIFICATE_VERIFY_FAILED" in hub_log
    finally:
        L.gateway_ca_file.write_bytes(good)
        wizard("services", "restart", "hub", "--state-dir", str(L.state_dir), timeout=200)

    # given files whose CA did not sign the certificate: refused before the gateway is touched
    gw_pid = (L.services_dir / "gateway.child.pid").read_text()
    other_ca, other_key = tls.new_ca("other CA")
    cert, key = tls.new_server_cert(other_ca, other_key, ["127.0.0.1"])
    files = {
        **data,
        "gateway": {
            **data["gateway"],
            "tls": "files",
            "tls_cert": _write(tmp_path / "gw.pem", cert, 0o644),
            "tls_key": _write(tmp_path / "gw-key.pem", key, 0o600),
            "tls_ca": _write(tmp_path / "ca.pem", wrong, 0o644),
        },
    }
    (tmp_path / "files.toml").write_text(tomli_w.dumps(files))
    bad = wizard("install", "--unattended", str(tmp_path / "files.toml"), env=installed.env)
    assert bad.returncode != 0
    assert f"gateway.tls_cert: the gateway certificate {tmp_path / 'gw.pem'} (issuer CN=other CA" in bad.stderr, (
        bad.stderr
    )
    assert f"was not signed by the CA in {tmp_path / 'ca.pem'}" in bad.stderr
    assert (L.services_dir / "gateway.child.pid").read_text() == gw_pid

    # HTTPS on the hub's public port too, with a given certificate: the install's own login -> Spark
    # job goes through it (verified against the given CA)
    hub_ca, hub_ca_key = tls.new_ca("test hub CA")
    hub_cert, hub_key = tls.new_server_cert(hub_ca, hub_ca_key, ["127.0.0.1", "localhost"])
    both = {
        **data,
        "hub": {
            **data["hub"],
            "tls_cert": _write(tmp_path / "hub.pem", hub_cert, 0o644),
            "tls_key": _write(tmp_path / "hub-key.pem", hub_key, 0o600),
            "tls_ca": _write(tmp_path / "hub-ca.pem", hub_ca, 0o644),
        },
    }
    (tmp_path / "both.toml").write_text(tomli_w.dumps(both))
    r = wizard("install", "--unattended", str(tmp_path / "both.toml"), env=installed.env)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-4000:] + _tails(L)
    hub_url = Layout(load(tmp_path / "both.toml")).hub_url
    assert hub_url.startswith("https://") and f" at {hub_url}" in out
    assert f"{ADMIN} logged in and ran spark.range(1000).count() = 1000 via the gateway" in out
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{hub_url}/hub/api", timeout=10)  # not a CA this machine trusts


def test_given_key_readable_by_others_is_refused(installed, tmp_path):
    ca, ca_key = tls.new_ca()
    cert, key = tls.new_server_cert(ca, ca_key, ["127.0.0.1"])
    data = tomllib.loads(installed.answers_path.read_text())
    data["gateway"] = {
        **data["gateway"],
        "tls": "files",
        "tls_cert": _write(tmp_path / "gw.pem", cert, 0o644),
        "tls_key": _write(tmp_path / "gw-key.pem", key, 0o644),
        "tls_ca": _write(tmp_path / "ca.pem", ca, 0o644),
    }
    (tmp_path / "a.toml").write_text(tomli_w.dumps(data))
    before = installed.layout.gateway_config.read_bytes()
    r = wizard("install", "--unattended", str(tmp_path / "a.toml"), env=installed.env)
    assert r.returncode != 0
    assert f"gateway.tls_key: {tmp_path / 'gw-key.pem'} is readable by others (mode 644); run: chmod 600" in r.stderr, (
        r.stderr
    )
    assert installed.layout.gateway_config.read_bytes() == before
