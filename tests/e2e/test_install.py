"""The real thing: install the whole stack from an answers file, then use it as a user would."""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from pathlib import Path

import httpx
import pytest

from jeg_wizard import health
from jeg_wizard.class_archive import driver_archive_key, wait_built
from jeg_wizard.steps import STEPS

from .conftest import ADMIN, cmdlines, spawn, user_servers, wizard

pytestmark = pytest.mark.e2e


def test_install_succeeds_with_health_checks(installed):
    out = installed.first.stdout + installed.first.stderr
    assert installed.first.returncode == 0, out[-6000:]
    assert "gateway lists kernelspecs: spark_python_local" in out
    assert f"{ADMIN} logged in and ran spark.range(1000).count() = 1000 via the gateway" in out
    # the smoke job is the class archive's, in the background once the install has ended
    assert "Kernels' JVM class archive: being written in the background" in out
    L = installed.layout
    state = wait_built(L.kernel_jvm_archive, driver_archive_key(L), timeout=300)
    log = L.class_archive_log.read_text()
    assert state == "current", log[-4000:]
    assert "JEG_WIZARD_SMOKE 100" in log and log.index("waiting for the install to finish") < log.index("writing")


def test_gateway_demands_its_token(installed):
    url = installed.layout.gateway_url
    assert httpx.get(f"{url}/api/kernelspecs", timeout=10).status_code == 401
    assert httpx.get(f"{url}/api/kernelspecs", headers={"Authorization": "token wrong"}, timeout=10).status_code == 401
    r = httpx.get(f"{url}/api/kernelspecs", headers={"Authorization": f"token {installed.token}"}, timeout=10)
    assert r.status_code == 200 and "spark_python_local" in r.json()["kernelspecs"]
    assert stat.S_IMODE(installed.layout.gateway_token_file.stat().st_mode) == 0o600


def test_gateway_refuses_a_kernel_for_root(installed):
    url = installed.layout.gateway_url
    r = httpx.post(
        f"{url}/api/kernels",
        headers={"Authorization": f"token {installed.token}"},
        json={"name": "spark_python_local", "env": {"KERNEL_USERNAME": "root"}},
        timeout=60,
    )
    assert r.status_code == 403 and "root" in r.text


def test_hub_login_spawn_and_spark_job(installed):
    L = installed.layout
    smoke = health.login_and_spark_job(L.hub_url, ADMIN, installed.password, "spark_python_local", timeout=300)
    assert smoke.result == "1000"
    assert set(smoke.phases) == {
        "login",
        "spawn",
        "kernelspecs",
        "kernel start",
        "kernel ready",
        "job",
        "kernel delete",
    }


def test_kernels_run_as_the_unprivileged_gateway_user(installed):
    """Not root: what a hub user runs in a kernel runs as the gateway's system account."""
    L = installed.layout
    code = "import os, pwd; (pwd.getpwuid(os.getuid()).pw_name, os.getcwd())"
    smoke = health.login_and_spark_job(
        L.hub_url, ADMIN, installed.password, "spark_python_local", code=code, expect=L.a.gateway.user, timeout=300
    )
    assert smoke.result == f"('{L.a.gateway.user}', '{L.gateway_home}')"


# run in the kernel: its children (the driver JVM pyspark started), each with whether it maps the archive
MAPS_ARCHIVE = (
    "import os; me = str(os.getpid()); "
    "kids = [p for p in os.listdir('/proc') if p.isdigit() and "
    "open(f'/proc/{p}/stat').read().rsplit(')', 1)[1].split()[1] == me]; "
    "sorted(os.path.basename(open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')[0].decode()) + "
    "(' maps ' if ARCHIVE in open(f'/proc/{p}/maps').read() else ' does not map ') + ARCHIVE for p in kids)"
)


def test_kernels_map_the_jvm_class_archive_the_install_built(installed):
    """Issue 15 item 4: the driver JVM of a kernel started through the hub maps the class archive (it
    halves the start); the archive matches this java and Spark."""
    L = installed.layout
    archive = L.kernel_jvm_archive
    assert wait_built(archive, driver_archive_key(L), timeout=300) == "current"
    code = f"ARCHIVE = {str(archive)!r}; " + MAPS_ARCHIVE
    smoke = health.login_and_spark_job(
        L.hub_url, ADMIN, installed.password, "spark_python_local", code=code, expect="maps", timeout=300
    )
    assert smoke.result == repr([f"java maps {archive}"]), smoke.result
    print(f"kernel with the archive: {smoke.timings()}")


def test_wrong_password_is_refused(installed):
    with pytest.raises(health.HealthError, match="login as .* failed \\(HTTP 403\\): wrong password"):
        health.login_and_spark_job(
            installed.layout.hub_url, ADMIN, "not-the-password", "spark_python_local", timeout=30
        )


def test_jupyterlab_in_a_real_browser_runs_a_spark_cell(installed, tmp_path):
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("Debian's chromium is not installed (tests/run installs it)")
    from .browser import run_spark_cell_in_lab

    out = run_spark_cell_in_lab(
        installed.layout.hub_url, ADMIN, installed.password, "Spark - Python (local)", timeout=240
    )
    assert out.strip() == "1000"


def test_foreign_lines_of_the_environment_file_are_kept(installed):
    text = Path(installed.layout.a.environment.file).read_bytes()
    assert text.startswith(installed.foreign_env + b"\n")
    assert b'SPARK_HOME="' in text and text.count(b"# BEGIN jeg-wizard") == 1


def test_secrets_never_leak(installed):
    L = installed.layout
    named = {
        "admin password": installed.password.encode(),
        "gateway token": installed.token.encode(),
        "proxy token": L.proxy_token_file.read_text().strip().encode(),
        "cookie secret": L.cookie_secret_file.read_text().strip().encode(),
    }
    canaries = list(named.values())
    secret_files = {L.gateway_token_file, L.proxy_token_file, L.cookie_secret_file, L.services_dir / "hub.env"}
    for f in secret_files:
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    scanned = 0
    for base in (L.log_dir, L.state_dir, L.config_dir):
        for dirpath, _, names in os.walk(base):
            for n in names:
                p = Path(dirpath) / n
                if p in secret_files or "backups" in p.parts or n.endswith(".sqlite"):
                    continue
                data = p.read_bytes()
                scanned += 1
                for c in canaries:
                    assert c not in data, f"a secret appears in {p}"
    assert scanned > 5
    for pid, cmd in cmdlines().items():
        for c in canaries:
            assert c not in cmd, f"a secret is on the command line of pid {pid}"
    plan = wizard("plan", str(installed.answers_path), env=installed.env)
    for c in canaries:
        assert c.decode() not in plan.stdout


def _managed_hashes(L) -> dict[str, str]:
    paths = [
        Path(L.a.environment.file),
        L.hub_config,
        L.gateway_config,
        L.gateway_token_file,
        L.proxy_token_file,
        L.cookie_secret_file,
        L.services_dir / "hub.env",
        L.services_dir / "gateway.json",
        L.services_dir / "hub.json",
        L.gateway_venv / ".jeg-wizard-requirements",
        L.hub_venv / ".jeg-wizard-requirements",
        L.kernel_venv / ".jeg-wizard-requirements",
    ]
    paths += sorted(Path(L.a.kernels.dir).rglob("*"))
    paths += sorted(p for p in L.config_dir.rglob("*"))
    out = {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}
    out["spark link"] = os.readlink(L.spark_link)
    return out


def test_second_run_changes_nothing(installed):
    L = installed.layout
    before = _managed_hashes(L)
    pids = {n: (L.services_dir / f"{n}.child.pid").read_text() for n in ("gateway", "hub")}
    journal = (L.state_dir / "journal.jsonl").read_text()
    logged = len(L.install_log.read_text().splitlines())
    again = wizard("install", "--unattended", str(installed.answers_path), env=installed.env)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-4000:]
    assert f"(0 steps did work, {len(STEPS)} were already done)" in out
    # it only looked: no change journaled, no command run (every command is logged as `$ argv`),
    # so no pip and no Spark job; the health step asked the gateway and the hub over HTTP
    assert (L.state_dir / "journal.jsonl").read_text() == journal
    commands = [line for line in L.install_log.read_text().splitlines()[logged:] if " $ " in line]
    assert not [c for c in commands if " pip " in c or "spark-submit" in c], commands
    assert commands == []
    assert "ok: gateway at " in out and "logged in and ran" not in out
    assert _managed_hashes(L) == before
    assert {n: (L.services_dir / f"{n}.child.pid").read_text() for n in ("gateway", "hub")} == pids
    plan = wizard("plan", "--brief", str(installed.answers_path), env=installed.env)
    assert "[to do]" not in plan.stdout and "0 with changes to make" in plan.stdout

    # --verify: the end-to-end checks again (a Spark job, login -> Spark job), still no change
    verified = wizard("install", "--unattended", str(installed.answers_path), "--verify", env=installed.env)
    out = verified.stdout + verified.stderr
    assert verified.returncode == 0, out[-4000:]
    assert "JEG_WIZARD_SMOKE 100" in out and "logged in and ran spark.range(1000).count() = 1000" in out
    assert (L.state_dir / "journal.jsonl").read_text() == journal
    assert _managed_hashes(L) == before


def test_services_stop_and_start(installed):
    L = installed.layout
    sd = str(L.state_dir)
    r = wizard("services", "restart", "gateway", "--state-dir", sd, timeout=200)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "gateway: running, answers at" in r.stdout
    st = wizard("services", "status", "--state-dir", sd)
    assert "gateway: running" in st.stdout and "hub: running" in st.stdout


def test_a_hub_restart_keeps_user_servers_and_kernels(installed):
    """Restarting (or crashing) the hub must not take users' work with it: the server and its kernel
    live on, and the hub finds them again."""
    L = installed.layout
    health.login_and_spark_job(L.hub_url, ADMIN, installed.password, "spark_python_local", timeout=300)
    servers = user_servers(ADMIN)
    assert servers, "the admin's server runs after the job"
    base = f"{L.hub_url}/user/{ADMIN}"
    with httpx.Client(follow_redirects=True, timeout=60) as c:
        c.get(f"{L.hub_url}/hub/login")
        c.post(
            f"{L.hub_url}/hub/login?next=",
            data={"username": ADMIN, "password": installed.password, "_xsrf": c.cookies.get("_xsrf") or ""},
        )
        assert c.get(f"{base}/lab").status_code == 200
        xsrf = {"X-XSRFToken": c.cookies.get("_xsrf", path=f"/user/{ADMIN}/") or ""}
        kid = c.post(f"{base}/api/kernels", json={"name": "spark_python_local"}, headers=xsrf).json()["id"]
        try:
            r = wizard("services", "restart", "hub", "--state-dir", str(L.state_dir), timeout=200)
            assert r.returncode == 0, r.stdout + r.stderr
            assert user_servers(ADMIN) == servers, "the user's server was restarted or stopped"
            kernels = c.get(f"{base}/api/kernels")  # the same session, through the restarted hub's proxy
            assert kernels.status_code == 200 and kid in {k["id"] for k in kernels.json()}
        finally:
            c.delete(f"{base}/api/kernels/{kid}", headers=xsrf)
    # and a stop means stop: no user server outlives `services stop`
    wizard("services", "stop", "hub", "--state-dir", str(L.state_dir), timeout=200)
    try:
        assert not user_servers(ADMIN)
    finally:
        r = wizard("services", "start", "hub", "--state-dir", str(L.state_dir), timeout=200)
        assert r.returncode == 0, r.stdout + r.stderr
        spawn(installed)  # later tests (the doctor's) look at a running user server


def test_nothing_phones_home_from_jupyterlab(installed):
    """hub.lab_news = false (the default): no "get notified about Jupyter news?" prompt for every user, and
    the user's server fetches neither news nor updates when asked (both reach the internet)."""
    L = installed.layout
    spawn(installed)
    base = f"{L.hub_url}/user/{ADMIN}"
    with httpx.Client(follow_redirects=True, timeout=60) as c:
        c.get(f"{L.hub_url}/hub/login")
        c.post(
            f"{L.hub_url}/hub/login?next=",
            data={"username": ADMIN, "password": installed.password, "_xsrf": c.cookies.get("_xsrf") or ""},
        )
        page = c.get(f"{base}/lab")
        assert page.status_code == 200, page.status_code
        config = re.search(r"""<script id=["']jupyter-config-data["'][^>]*>(.*?)</script>""", page.text, re.S)
        assert config, f"no page config in {page.url}: {page.text[:1500]}"
        assert json.loads(config.group(1))["news"] == {"disabled": True}
        # the site's overrides become the settings schema's defaults ("none" would prompt)
        r = c.get(f"{base}/lab/api/settings/@jupyterlab/apputils-extension:notification")
        defaults = {k: v.get("default") for k, v in r.json()["schema"]["properties"].items()}
        assert defaults["fetchNews"] == "false" and defaults["checkForUpdates"] is False, r.text[:2000]
        assert c.get(f"{base}/lab/api/news").json()["news"] == []
        assert c.get(f"{base}/lab/api/update").json()["notification"] is None


def test_hub_and_user_servers_start_without_building_iri_parsers(installed):
    """releases.QUICK_START: jsonschema 4.25+ builds rfc3987-syntax's ~35 Earley parsers at import, 2 s of every
    hub and user-server start; the hub venv's jsonschema must not (nor must anything else pull them in)."""
    import subprocess

    python = str(installed.layout.hub_venv / "bin" / "python")
    code = "import sys, jupyterhub.app, jupyterhub.singleuser; print(sorted(m for m in sys.modules if 'rfc3987_syntax' in m or m == 'lark'))"
    r = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.strip() == "[]", r.stdout
