"""A server with no network at all installs from a bundle (issue 13, item 4).

The bundle is built here from the example answers with this checkout's wizard (`jeg-wizard bundle`,
as the README says), bound read-only into a fresh Debian 12 container in a network namespace of its own
(a LAN address on a link to nothing, no route) and no download caches; inside, the README's command with `--bundle`. Proven: a
damaged bundle and one that does not fit the answers are refused before any change; the install
succeeds with no route anywhere; its health step logs in and runs a Spark job; the doctor is green;
Chromium, started in the container's network namespace, runs a Spark cell in JupyterLab.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from . import host
from .conftest import ADMIN, KERNEL_DISPLAY, PASSWORD_ENV, record

DISTRO = "bookworm"
BUNDLE_DIR = host.WORK / "bundle"


@pytest.fixture(scope="module")
def bundle_file():
    """Built once per run by the wizard of this checkout (its venv runs the tests)."""
    if os.geteuid() != 0:
        pytest.skip("the systemd tier needs root (run tests/run with sudo)")
    BUNDLE_DIR.mkdir(parents=True, exist_ok=True)
    answers = BUNDLE_DIR / "answers.toml"
    wizard = [sys.executable, "-m", "jeg_wizard"]
    answers.write_text(subprocess.run([*wizard, "answers", "--example"], capture_output=True, text=True).stdout)
    out = BUNDLE_DIR / "jeg-wizard-bundle.tar"
    t0 = time.monotonic()
    r = subprocess.run(
        [*wizard, "bundle", str(answers), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=1800,
        stdin=subprocess.DEVNULL,
    )
    assert r.returncode == 0, f"jeg-wizard bundle exited {r.returncode}:\n{(r.stdout + r.stderr)[-3000:]}"
    record(DISTRO, "bundle", f"{out.stat().st_size / 1e6:.0f} MB in {time.monotonic() - t0:.0f}s")
    print(r.stdout)
    yield out
    if os.environ.get("JEGW_KEEP") != "1":
        shutil.rmtree(BUNDLE_DIR, ignore_errors=True)


def damaged_copy(src: Path, dest: Path) -> str:
    """A copy with one byte of one .deb flipped; returns that member's name."""
    shutil.copyfile(src, dest)
    with tarfile.open(src, "r:") as tar:
        m = next(m for m in tar if m.name.endswith(".deb") and m.size > 1000)
    with open(dest, "r+b") as f:
        f.seek(m.offset_data + m.size // 2)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0xFF]))
    return m.name


@pytest.fixture(scope="module")
def offline(bundle_file):
    d = host.DISTROS[DISTRO]
    try:
        host.archive_reachable(d)  # only to build the root file system when it is not cached
    except host.Unavailable as exc:
        if not d.tarball.exists():
            pytest.skip(str(exc))
    damaged = BUNDLE_DIR / "damaged.tar"
    flipped = damaged_copy(bundle_file, damaged)
    machine = host.Machine.create(d, offline=True)
    machine.binds.append(f"--bind-ro={BUNDLE_DIR}:/bundle")
    password = "Canary-" + secrets.token_hex(10)
    try:
        record(DISTRO, "offline boot", f"{machine.boot():.1f}s")
        yield machine, password, flipped
    finally:
        machine.destroy()
        left = machine.leftovers()
        assert not left, f"offline {d.title}: left on this machine after poweroff: {left}"
        damaged.unlink(missing_ok=True)


def test_the_server_has_no_network(offline):
    m, _, _ = offline
    links = [name.split("@")[0] for name in m.ok("ip -o link show | awk -F': ' '{print $2}'").split()]
    assert links == ["lo", "eth0"], links  # eth0: a dummy link with a LAN address, connected to nothing
    assert "default" not in m.ok("ip route show; ip -6 route show")
    r = m.sh("curl -sS -m 5 -o /dev/null https://pypi.org/simple/ 2>&1", timeout=30)
    assert r.returncode != 0, "pypi.org answered from the offline container"


def test_a_damaged_bundle_is_refused_before_any_change(offline):
    m, password, flipped = offline
    m.ok("cp /bundle/answers.toml /root/answers.toml")  # the answers the bundle was built from, copied along
    r = m.sh(
        "cd /src && ./jeg-wizard install --unattended /root/answers.toml --bundle /bundle/damaged.tar",
        timeout=600,
        env={PASSWORD_ENV: password},
    )
    out = r.stdout + r.stderr
    assert r.returncode == 2 and f"damaged): {flipped}" in out, out[-2000:]
    assert not m.path("/opt/jeg-wizard").exists() and not m.path("/opt/jeg").exists()
    assert not m.path("/var/cache/jeg-wizard/bundle/current").exists()


def test_answers_the_bundle_was_not_built_for_are_refused(offline):
    m, password, _ = offline
    m.ok('sed \'s/^version = "auto"/version = "4.6.2"/\' /root/answers.toml > /root/other.toml')
    assert 'version = "4.6.2"' in m.path("/root/other.toml").read_text()
    r = m.sh(
        "cd /src && ./jeg-wizard install --unattended /root/other.toml --bundle /bundle/jeg-wizard-bundle.tar",
        timeout=900,
        env={PASSWORD_ENV: password},
    )
    out = r.stdout + r.stderr
    assert r.returncode == 2 and "nothing was changed" in out, out[-3000:]
    assert "bundle: no npm packages for configurable-http-proxy 4.6.2 (proxy.version)" in out, out[-3000:]
    assert not m.path("/opt/jeg").exists() and not m.path("/var/lib/jeg-wizard/journal.jsonl").exists()


def test_install_from_the_bundle_with_no_network(offline):
    m, password, _ = offline
    m.ok(
        f'sed -i \'s/^admin_password_env = ""/admin_password_env = "{PASSWORD_ENV}"/\' /root/answers.toml'
        f" && grep -q '^admin_password_env = \"{PASSWORD_ENV}\"' /root/answers.toml"
    )
    lists = m.path("/var/lib/apt/lists")
    before = {p.name: p.stat().st_mtime_ns for p in lists.iterdir() if p.is_file()}
    t0 = time.monotonic()
    r = m.sh(
        "cd /src && ./jeg-wizard install --unattended /root/answers.toml --bundle /bundle/jeg-wizard-bundle.tar",
        timeout=2400,
        env={PASSWORD_ENV: password},
    )
    out = r.stdout + r.stderr
    record(DISTRO, "offline install", f"{time.monotonic() - t0:.0f}s (rc {r.returncode})")
    logs = host.WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "offline-install.out").write_text(out)
    assert r.returncode == 0, f"offline install exited {r.returncode}:\n{out[-5000:]}"
    assert f"{ADMIN} logged in and ran spark.range(1000).count() = 1000 via the gateway" in out, out[-3000:]
    # the system's own apt lists were left alone: the packages came from the bundle's repository
    assert {p.name: p.stat().st_mtime_ns for p in lists.iterdir() if p.is_file()} == before
    doctor = m.sh("jeg-wizard doctor", timeout=300)
    dout = doctor.stdout + doctor.stderr
    assert doctor.returncode == 0 and not [ln for ln in dout.splitlines() if ln.startswith(("[!]", "[✗]"))], dout


def test_a_browser_in_the_servers_network_runs_a_spark_cell(offline, tmp_path):
    """Chromium from this machine, started inside the container's network namespace (where the hub
    is the only thing at 127.0.0.1:8000)."""
    m, password, _ = offline
    if not m.path("/var/lib/jeg-wizard/journal.jsonl").exists():
        pytest.fail("the offline install did not run (see test_install_from_the_bundle_with_no_network)")
    if not os.path.exists("/usr/bin/chromium"):
        pytest.skip("Debian's chromium is not installed on this machine (tests/run installs it)")
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from tests.e2e.browser import run_spark_cell_in_lab as run; "
        "print('RESULT', run('http://127.0.0.1:8000', sys.argv[2], sys.stdin.read().strip(), sys.argv[3], "
        "timeout=300, screenshot_path=sys.argv[4]).strip())"
    )
    r = subprocess.run(
        [
            "nsenter",
            f"--net=/proc/{m.leader}/ns/net",
            sys.executable,
            "-c",
            code,
            str(host.SRC),
            ADMIN,
            KERNEL_DISPLAY,
            str(tmp_path / "lab-offline.png"),
        ],
        input=password,
        capture_output=True,
        text=True,
        timeout=420,
    )
    assert r.returncode == 0 and "RESULT 1000" in r.stdout, (r.stdout + r.stderr)[-3000:]
