"""Two hosts of one site on this machine, each in its own network namespace on a private /24 (net.py),
with an unreachable route for that /24 in this machine's namespace while they exist; no software, so it
is fast (the real site, three servers installed from a bundle: test_site.py).

The gateway host makes its token, TLS files and join file with the real steps; a stand-in serves
Enterprise Gateway's API with them (gateway_standin.py). The hub host's real `install --join` takes the
join file; its real `doctor` checks the gateway across the hop, TLS-verified against the CA from the join
file. Then the faults, each named on the hub host with the hop: the gateway on loopback only, the gateway
host off the network, a new CA on the gateway host (and the re-join that heals it), a changed token.

The hosts share this machine's file system (each its own state, config and log dirs). Nothing binds a
port of this machine's own namespace."""

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
GW, HUB = f"{net.NET}.1", f"{net.NET}.2"
HOP = f"{GW}:8888"
PASSWORD_ENV = "JEGW_TWO_HOSTS_PW"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def answers(root: Path, tarball: Path) -> str:
    """A host's answers: the same [site]; its own dirs under root; Spark from a tarball path (no package
    index is asked: none is reachable)."""
    return f"""
[system]
prefix = "{root}/opt"
state_dir = "{root}/state"
log_dir = "{root}/log"
[environment]
file = "{root}/environment"
[kernels]
dir = "{root}/kernels"
[spark]
source = "tarball"
tarball = "{tarball}"
[gateway]
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
"""


@pytest.fixture
def site():
    if shutil.which("ip") is None:
        pytest.skip("iproute2 (ip) is not installed")
    s = net.Site(["gateway", "hub"])
    try:
        s.up()
    except (subprocess.CalledProcessError, RuntimeError) as e:
        s.down()
        pytest.skip(f"cannot make network namespaces here: {getattr(e, 'stderr', '') or e}")
    tmp_path = Path(tempfile.mkdtemp(prefix="jegw-two-hosts-", dir="/var/tmp"))
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


def join_only(site: net.Site, answers_file: Path, join_file: Path) -> subprocess.CompletedProcess:
    """The hub host takes a join file (its join step only: the hub itself is not installed here)."""
    args = ["install", "--unattended", str(answers_file), "--join", str(join_file), "--only", "join"]
    return run(site, "hub", "-m", "jeg_wizard", *args)


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
    r = join_only(s, files["hub"], copied)
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
        r = join_only(s, files["hub"], rejoin)
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
