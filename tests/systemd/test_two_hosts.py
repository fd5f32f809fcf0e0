"""Hosts of one site on this machine, each in its own network namespace on a private /24 (net.py),
with an unreachable route for that /24 in this machine's namespace while they exist.

1. With a stand-in gateway (gateway_standin.py: the certificate and token the real steps wrote): the join,
   the hub host's doctor across the hop, four faults named there (the gateway on loopback only, the
   gateway host off the network, a new CA on the gateway host and the re-join that heals it, a changed
   token). Fast: no software.
2. The real site, three hosts: the gateway host's real `install` (Spark with its standalone master, the
   kernelspec, Enterprise Gateway 3.3.0 over TLS from the generated CA, the join file), a worker host's
   (a Spark worker joining that master) and the hub host's real `install --join` (the proxy, the hub,
   the admin; its health step logs in, spawns a server and runs a Spark job through the gateway on the
   other host, whose executor runs on the worker host); each host's doctor; four faults. The hosts have
   no internet: what their steps fetch is built once in this machine's namespace under a cached prefix
   (what the offline bundle will carry), so their installs find it done.

The hosts share this machine's file system (each its own state, config and log dirs) and accounts: the
hub admin is a user of this machine while the real site runs (removed after), and the gateway runs as
root rather than adding its system user here. Nothing binds a port of this machine's own namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from . import net

REPO = Path(__file__).resolve().parents[2]
STANDIN = Path(__file__).with_name("gateway_standin.py")
GW, HUB, WORKER = f"{net.NET}.1", f"{net.NET}.2", f"{net.NET}.3"
HOP = f"{GW}:8888"
PASSWORD_ENV = "JEGW_TWO_HOSTS_PW"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def answers(root: Path, tarball: Path | None, prefix: Path | None = None, worker: bool = False) -> str:
    """A host's answers: the same [site]; its own dirs under root (software under prefix); Spark from a
    tarball path (no package index is asked) or, tarball None, from PyPI (the default); with a worker
    host, a standalone master on the gateway host."""
    spark = f'[spark]\nsource = "tarball"\ntarball = "{tarball}"\n' if tarball else ""
    if worker:
        spark += f'[spark]\nmaster = "spark://{GW}:7077"\n' if not spark else f'master = "spark://{GW}:7077"\n'
    workers = f'worker_hosts = ["{WORKER}"]\n' if worker else ""
    return f"""
[system]
prefix = "{prefix or root / "opt"}"
state_dir = "{root}/state"
log_dir = "{root}/log"
[environment]
file = "{root}/environment"
[kernels]
dir = "{root}/kernels"
{spark}[gateway]
user = "root"
[hub]
config_dir = "{root}/etc"
ip = "{HUB}"
[users]
admin = "jegwtwohosts"
admin_password_env = "{PASSWORD_ENV}"
[services]
manager = "process"
[site]
gateway_host = "{GW}"
hub_host = "{HUB}"
{workers}"""


@pytest.fixture
def site():
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    s = net.Site(["gateway", "hub", "worker"])
    try:
        s.up()
    except (subprocess.CalledProcessError, RuntimeError) as e:
        s.down()
        pytest.skip(f"cannot make network namespaces here: {getattr(e, 'stderr', '') or e}")
    # not under pytest's tmp dir (0700): users' servers read the hub host's config and CA as themselves
    tmp_path = Path(tempfile.mkdtemp(prefix="jegw-two-hosts-", dir="/var/tmp"))
    tmp_path.chmod(0o755)
    tarball = tmp_path / "spark.tgz"  # spark.source = tarball: no package index is asked (none is reachable)
    tarball.write_bytes(b"")
    files = {}
    for name in s.names:
        root = tmp_path / name
        root.mkdir()
        (root / "environment").write_text('PATH="/usr/bin:/bin"\n')
        files[name] = root / "answers.toml"
        files[name].write_text(answers(root, tarball))
    yield s, files, tmp_path
    s.down()
    shutil.rmtree(tmp_path, ignore_errors=True)


def run(site: net.Site, host: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), PASSWORD_ENV: "Two-Hosts-Pass-1"}
    return site.run(host, [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


class Gateway:
    """The stand-in gateway process on the gateway host."""

    def __init__(self, site: net.Site, answers_file: Path):
        self.site, self.answers, self.proc = site, answers_file, None

    def start(self, bind: str | None = None) -> None:
        self.stop()
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        argv = [sys.executable, str(STANDIN), "serve", str(self.answers), *([bind] if bind else [])]
        self.proc = self.site.popen("gateway", argv, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("serving on"), f"the stand-in did not start: {line!r}"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


def doctor_gateway(site: net.Site, answers_file: Path) -> list[str]:
    """The hub host's doctor: its gateway findings, each with its fix and log lines (the hub itself is not
    installed here: those findings are not read)."""
    r = run(site, "hub", "-m", "jeg_wizard", "doctor", "--answers", str(answers_file), "--timeout", "3")
    assert "Traceback" not in r.stderr, r.stderr
    blocks: list[str] = []
    for line in r.stdout.splitlines():
        if line.startswith("["):
            blocks.append(line)
        elif line.startswith(" ") and blocks:
            blocks[-1] += "\n" + line
    found = [b for b in blocks if b[4:].startswith("gateway: ")]
    assert found, r.stdout
    return found


def said(fault: str, text: str) -> str:
    """What the hub host's doctor printed for a fault (the closing note quotes it)."""
    bad = [ln for ln in text.splitlines() if ln.startswith("[") and not ln.startswith("[✓]")]
    print(f"[two hosts] {fault}: {bad[0] if bad else '(nothing)'}")
    return text


def prepare_gateway_host(site: net.Site, answers_file: Path) -> Path:
    r = run(site, "gateway", str(STANDIN), "prepare", str(answers_file))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "role: gateway" in r.stdout and "join: ok" in r.stdout, r.stdout
    return Path(r.stdout.rsplit("join file: ", 1)[1].strip())


def copy_join(src: Path, dst: Path, mode: int = 0o600) -> Path:
    shutil.copyfile(src, dst)
    dst.chmod(mode)
    return dst


def test_the_hub_host_joins_the_gateway_host_and_names_each_fault_with_the_hop(site):
    s, files, tmp = site
    t0 = time.monotonic()
    join_file = prepare_gateway_host(s, files["gateway"])
    assert join_file.stat().st_mode & 0o777 == 0o600

    # the hub host: its role found from its address; the plan is its part only
    r = run(s, "hub", "-m", "jeg_wizard", "plan", str(files["hub"]), "--brief")
    assert r.returncode == 0 and "this host's role: hub" in r.stdout, r.stdout + r.stderr
    steps = [ln.split()[1] for ln in r.stdout.splitlines() if ln[:3].strip().rstrip(".").isdigit()]
    assert steps == [
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

    # a copy others can read is refused before any change; the 0600 copy joins
    hub_state = tmp / "hub" / "state"
    loose = copy_join(join_file, tmp / "hub" / "join-loose.json", 0o644)
    r = run(s, "hub", "-m", "jeg_wizard", "install", "--unattended", str(files["hub"]), "--join", str(loose))
    assert r.returncode == 2 and "readable by group or others (mode 644)" in r.stderr, r.stderr
    assert not hub_state.exists()
    copied = copy_join(join_file, tmp / "hub" / "join.json")
    r = run(
        s,
        "hub",
        "-m",
        "jeg_wizard",
        "install",
        "--unattended",
        str(files["hub"]),
        "--join",
        str(copied),
        "--only",
        "join",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    gw_state = tmp / "gateway" / "state"
    token = hub_state / "secrets" / "gateway-token"
    assert token.read_text() == (gw_state / "secrets" / "gateway-token").read_text()
    assert token.stat().st_mode & 0o777 == 0o600
    assert (hub_state / "tls" / "ca.pem").read_bytes() == (gw_state / "tls" / "ca.pem").read_bytes()
    assert token.read_text().strip() not in r.stdout + r.stderr

    gateway = Gateway(s, files["gateway"])
    try:
        gateway.start()
        lines = doctor_gateway(s, files["hub"])
        assert all(ln.startswith("[✓]") for ln in lines), lines
        assert any(f"HTTPS to gateway host {HOP}, verified against {hub_state}/tls/ca.pem" in ln for ln in lines)

        # the gateway listens on loopback only
        gateway.start(bind="127.0.0.1")
        text = said("gateway on loopback only", "\n".join(doctor_gateway(s, files["hub"])))
        assert f"hub host cannot reach gateway host {HOP}: connection refused" in text, text
        assert "not 127.0.0.1 only" in text

        # the gateway host gone from the network
        gateway.start()
        s.link("gateway", "down")
        text = said("gateway host off the network", "\n".join(doctor_gateway(s, files["hub"])))
        s.link("gateway", "up")
        assert f"hub host cannot reach gateway host {HOP}: " in text, text
        assert "no route to host" in text or "no answer within " in text, text

        # a new CA on the gateway host: the hub host's CA (from the old join file) no longer verifies it
        gateway.stop()
        shutil.rmtree(gw_state / "tls")
        new_join = prepare_gateway_host(s, files["gateway"])
        gateway.start()
        text = said("new CA on the gateway host", "\n".join(doctor_gateway(s, files["hub"])))
        assert f"hub host cannot verify gateway host {HOP}: TLS certificate verification failed" in text, text
        assert "jeg-wizard install --join FILE" in text
        rejoin = copy_join(new_join, tmp / "hub" / "join-2.json")
        r = run(
            s,
            "hub",
            "-m",
            "jeg_wizard",
            "install",
            "--unattended",
            str(files["hub"]),
            "--join",
            str(rejoin),
            "--only",
            "join",
        )
        assert r.returncode == 0, r.stdout + r.stderr
        assert all(ln.startswith("[✓]") for ln in doctor_gateway(s, files["hub"]))

        # the gateway host's token changed: the one from the join file is refused
        (gw_state / "secrets" / "gateway-token").write_text("a-new-token-0123456789abcdef\n")
        gateway.start()
        text = said("token changed on the gateway host", "\n".join(doctor_gateway(s, files["hub"])))
        assert f"gateway host {HOP} refuses the token from the join file" in text, text
    finally:
        gateway.stop()
    print(f"[two hosts] join, doctor and four faults in {time.monotonic() - t0:.1f}s")


# ---------------------------------------------------------------- the real gateway on the gateway host

SOFTWARE = Path(os.environ.get("JEGW_SYSTEMD_CACHE", "/var/cache/jegw-systemd")) / "two-hosts"


def host_software(answers_file: Path, role: str) -> float:
    """What a host's steps fetch (venvs, pyspark, the proxy), built in this machine's namespace (the hosts
    have no internet) under a cached prefix: a later run finds it done. Returns the seconds it took."""
    import fcntl

    SOFTWARE.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    with open(SOFTWARE / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one builder at a time
        r = subprocess.run(
            [sys.executable, str(STANDIN), "software", str(answers_file), role],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=1800,
        )
    out = r.stdout + r.stderr
    if r.returncode != 0 and ("Could not find" in out or "ENOTFOUND" in out or "Network is unreachable" in out):
        pytest.skip(f"the package indexes are not reachable from this machine: {out[-300:]}")
    assert r.returncode == 0, out[-3000:]
    return time.monotonic() - t0


def wizard(site: net.Site, host: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return run(site, host, "-m", "jeg_wizard", *args, timeout=timeout)


ADMIN = "jegwtwohosts"


def real_answers(root: Path) -> Path:
    """A host of the real site: its software under the cached prefix, Spark from PyPI (the default), a
    standalone master on the gateway host and a worker host."""
    out = root / "real.toml"
    out.write_text(answers(root, None, SOFTWARE / "opt", worker=True))
    return out


def web_json(site: net.Site, host: str, url: str) -> dict:
    r = run(site, host, "-c", f"import httpx, json; print(json.dumps(httpx.get({url!r}, timeout=5).json()))")
    assert r.returncode == 0, r.stderr
    return __import__("json").loads(r.stdout)


def doctor_lines(site: net.Site, host: str, answers_file: Path, component: str) -> list[str]:
    r = run(site, host, "-m", "jeg_wizard", "doctor", "--answers", str(answers_file), "--timeout", "3")
    assert "Traceback" not in r.stderr, r.stderr
    return [ln for ln in r.stdout.splitlines() if ln[4:].startswith(f"{component}: ")]


def test_a_site_of_two_real_hosts_runs_a_spark_job_through_the_hop(site):
    """The gateway host's real `install` (Spark, the kernelspec, Enterprise Gateway 3.3.0 over TLS from the
    generated CA, its join file); the hub host's real `install --join` (the proxy, the hub, the admin, the
    hub started) whose health step logs in, spawns a server and runs a Spark job through the gateway on
    the other host; the hub host's doctor across the hop; then three faults named there."""
    import pwd

    s, files, tmp = site
    gw_answers, hub_answers = real_answers(tmp / "gateway"), real_answers(tmp / "hub")
    worker_answers = real_answers(tmp / "worker")
    built = host_software(gw_answers, "gateway") + host_software(hub_answers, "hub")
    print(f"[two hosts] the hosts' software ready in {built:.1f}s")
    try:
        pwd.getpwnam(ADMIN)
        made_admin = False
    except KeyError:
        made_admin = True
    gw_state, hub_state, worker_state = (tmp / h / "state" for h in ("gateway", "hub", "worker"))
    t0 = time.monotonic()
    try:
        r = wizard(s, "gateway", "install", "--unattended", str(gw_answers), timeout=900)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-3000:]
        assert f"Join file for the hub host ({HUB}): {gw_state}/join.json" in r.stdout
        t_gateway = time.monotonic() - t0
        r = wizard(s, "worker", "install", "--unattended", str(worker_answers), timeout=600)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-3000:]
        t_worker = time.monotonic() - t0 - t_gateway
        copied = copy_join(gw_state / "join.json", tmp / "hub" / "join.json")
        r = wizard(s, "hub", "install", "--unattended", str(hub_answers), "--join", str(copied), timeout=900)
        assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-3000:]
        assert f"{ADMIN} logged in and ran spark.range(1000).count() = 1000 via the gateway" in r.stdout, r.stdout
        t_hub = time.monotonic() - t0 - t_gateway - t_worker
        print(
            f"[two hosts] gateway host installed in {t_gateway:.1f}s, worker host in {t_worker:.1f}s, "
            f"hub host (with the job) in {t_hub:.1f}s"
        )
        # the job's executor ran on the worker host; each host's doctor says its side of Spark
        worker_ui = web_json(s, "worker", f"http://{WORKER}:8381/json/")
        ran = worker_ui.get("executors", []) + worker_ui.get("finishedexecutors", [])
        assert ran, worker_ui
        [live] = doctor_lines(s, "worker", worker_answers, "spark")
        assert live.startswith("[✓]") and f"{WORKER} is a live worker of spark://{GW}:7077" in live, live
        [master] = doctor_lines(s, "gateway", gw_answers, "spark")
        assert master.startswith("[✓]") and "1 worker(s)" in master, master

        lines = doctor_gateway(s, hub_answers)
        assert all(ln.startswith("[✓]") for ln in lines), lines
        text = "\n".join(lines)
        assert "version: JEG 3.3.0 (jupyter_server 1." in text
        assert f"HTTPS to gateway host {HOP}, verified against {hub_state}/tls/ca.pem" in text

        # the gateway stopped on its host
        r = wizard(s, "gateway", "services", "stop", "gateway", "--state-dir", str(gw_state))
        assert r.returncode == 0, r.stdout + r.stderr
        text = said("real gateway stopped", "\n".join(doctor_gateway(s, hub_answers)))
        assert f"hub host cannot reach gateway host {HOP}: connection refused" in text, text
        r = wizard(s, "gateway", "services", "start", "gateway", "--state-dir", str(gw_state))
        assert r.returncode == 0 and "running" in r.stdout, r.stdout + r.stderr

        # a new CA on the gateway host (its install makes one when the old is gone): the hub host's no longer fits
        shutil.rmtree(gw_state / "tls")
        r = wizard(s, "gateway", "install", "--unattended", str(gw_answers), timeout=600)
        assert r.returncode == 0 and "generated a new private CA" in r.stdout, r.stdout[-3000:] + r.stderr[-3000:]
        text = said("real gateway with a new CA", "\n".join(doctor_gateway(s, hub_answers)))
        assert f"hub host cannot verify gateway host {HOP}: TLS certificate verification failed" in text, text
        rejoin = copy_join(gw_state / "join.json", tmp / "hub" / "join-2.json")
        r = wizard(s, "hub", "install", "--unattended", str(hub_answers), "--join", str(rejoin), "--only", "join")
        assert r.returncode == 0, r.stdout + r.stderr
        assert all(ln.startswith("[✓]") for ln in doctor_gateway(s, hub_answers))

        # the worker host's worker gone: the gateway host names it
        r = wizard(s, "worker", "services", "stop", "--state-dir", str(worker_state))
        assert r.returncode == 0, r.stdout + r.stderr
        for _ in range(30):
            master = "\n".join(doctor_lines(s, "gateway", gw_answers, "spark"))
            if f"has no live worker from worker host {WORKER}" in master:
                break
            time.sleep(1)
        said("worker gone", master)
        assert f"spark://{GW}:7077 has no live worker from worker host {WORKER}" in master, master

        # the gateway's token changed on its host
        (gw_state / "secrets" / "gateway-token").write_text("a-new-token-0123456789abcdef\n")
        r = wizard(s, "gateway", "services", "restart", "gateway", "--state-dir", str(gw_state))
        assert r.returncode == 0, r.stdout + r.stderr
        text = said("real gateway with a new token", "\n".join(doctor_gateway(s, hub_answers)))
        assert f"gateway host {HOP} refuses the token from the join file" in text, text
    finally:
        for host, state in (("hub", hub_state), ("worker", worker_state), ("gateway", gw_state)):
            if (state / "services").is_dir():
                wizard(s, host, "services", "stop", "--state-dir", str(state), timeout=120)
        if made_admin:
            subprocess.run(["userdel", "-r", ADMIN], capture_output=True, timeout=60)
    print(f"[two hosts] real site: three installs, the job, doctors and four faults in {time.monotonic() - t0:.1f}s")
