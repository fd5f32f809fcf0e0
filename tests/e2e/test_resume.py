"""Resume after kill -9: the install's process group is killed at 11 points (mid-download,
mid-extract, mid-pip, mid-config-write, a user without its password yet, a service half-started,
step boundaries...), the same command is run again, and the end state must equal an uninterrupted
install's: hashes of every path under the temp root (paths and secrets normalized), the
environment file, the user and its password, the running services, no leftover process or temp file.

A subset of steps keeps it quick: system, java, spark (a small Apache-shaped tarball over
loopback HTTP, throttled so a kill lands mid-transfer), environment, kernelspecs, gateway
(started as a supervised process), admin_user, hub_config. The gateway venv and (but for the
mid-pip case) the kernel venv are shared by all runs, built once by the uninterrupted install.
Pause points: JEG_WIZARD_TEST_PAUSE_AT (jeg_wizard/testhook.py).
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomli_w

from jeg_wizard.actions import UserAccount
from jeg_wizard.answers import load
from jeg_wizard.engine import Journal
from jeg_wizard.layout import Layout
from jeg_wizard.services import ProcessManager

from .conftest import free_ports, wizard

pytestmark = pytest.mark.e2e

# per-session names: users are machine-wide, and another run of these tests (or jeg-gateway of
# another install) may be using the usual ones right now
_SUFFIX = secrets.token_hex(3)
ADMIN = f"jegwr{_SUFFIX}"
GW_USER = f"jegwg{_SUFFIX}"
PW_ENV = "JEGW_RESUME_PASSWORD"
STEPS = ["system", "java", "spark", "environment", "kernelspecs", "gateway", "admin_user", "hub_config"]
ONLY = [a for s in STEPS for a in ("--only", s)]
FOREIGN_ENV = (
    b'PATH="/usr/local/bin:/usr/bin:/bin"\n#  a comment  with odd   spacing\n\tLANG=C.UTF-8 \nLAST_LINE_NO_NEWLINE=1'
)
FOREIGN_HUB_CONFIG = b"# the operator's own config, from before the wizard\nc.JupyterHub.port = 9999\n"
SPARK_NAME = "spark-4.3.0-bin-hadoop3"


# ------------------------------------------------------------------ a small Spark-shaped tarball on loopback


class _Throttled(http.server.SimpleHTTPRequestHandler):
    """Range support and ~12 MB/s, so a kill can land mid-transfer."""

    def log_message(self, *a):
        pass

    def do_GET(self):  # noqa: N802
        path = Path(self.directory) / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = 0
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
        if start >= len(data) and start:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{len(data)}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(data) - start))
        self.end_headers()
        try:
            for i in range(start, len(data), 256 * 1024):
                self.wfile.write(data[i : i + 256 * 1024])
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass


@dataclass
class Shared:
    base: Path
    url: str
    sha: str
    gateway_venv: Path
    kernel_venv: Path
    ports: list[int]
    env: dict


@pytest.fixture(scope="package")  # ends with tests/e2e (see conftest.installed)
def shared():
    if os.geteuid() != 0:
        pytest.skip("needs root (users, services)")
    base = Path(tempfile.mkdtemp(prefix="jegw-resume-", dir="/tmp"))
    os.chmod(base, 0o755)
    top = base / "build" / SPARK_NAME
    (top / "bin").mkdir(parents=True)
    (top / "bin" / "spark-submit").write_text("#!/bin/sh\necho 'fake spark-submit'\n")
    (top / "bin" / "spark-submit").chmod(0o755)
    (top / "python" / "lib").mkdir(parents=True)
    pad = top / "jars"
    pad.mkdir()
    rnd = open("/dev/urandom", "rb")
    for i in range(1500):  # ~24 MB in many files: extraction takes long enough to be interrupted
        (pad / f"part-{i:04d}.jar").write_bytes(rnd.read(16 * 1024))
    rnd.close()
    www = base / "www"
    www.mkdir()
    tgz = www / f"{SPARK_NAME}.tgz"
    subprocess.run(["tar", "-C", str(top.parent), "-I", "gzip -1", "-cf", str(tgz), SPARK_NAME], check=True)
    shutil.rmtree(base / "build")
    sha = hashlib.sha512(tgz.read_bytes()).hexdigest()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Throttled, directory=str(www)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {PW_ENV: "Canary-" + secrets.token_hex(8)}
    yield Shared(
        base,
        f"http://127.0.0.1:{server.server_address[1]}/{tgz.name}",
        sha,
        base / "shared" / "gateway",
        base / "shared" / "kernel",
        free_ports(4),
        env,
    )
    server.shutdown()
    server.server_close()
    remove_users()
    kill_processes_under(base)
    if os.environ.get("JEGW_KEEP") != "1":
        shutil.rmtree(base, ignore_errors=True)


def new_root(sh: Shared, name: str, *, own_kernel_venv: bool = False, steps_answers: dict | None = None) -> Path:
    root = sh.base / name
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(mode=0o755)
    (root / "etc" / "jupyter").mkdir(parents=True)
    (root / "etc" / "environment").write_bytes(FOREIGN_ENV)
    (root / "etc" / "jupyter" / "jupyterhub_config.py").write_bytes(FOREIGN_HUB_CONFIG)
    gw, hub, hubint, api = sh.ports
    data = {
        "system": {
            "prefix": f"{root}/opt",
            "state_dir": f"{root}/state",
            "log_dir": f"{root}/log",
            "replace_existing_files": True,
        },  # the operator's jupyterhub_config.py: replaced, backed up
        "spark": {"source": "url", "url": sh.url, "sha512": sh.sha},
        "environment": {"file": f"{root}/etc/environment"},
        "kernels": {
            "dir": f"{root}/share/jupyter/kernels",
            "venv": str(root / "kernel-venv" if own_kernel_venv else sh.kernel_venv),
        },
        "gateway": {"port": gw, "venv": str(sh.gateway_venv), "user": GW_USER},
        "proxy": {"api_port": api},
        "hub": {"ip": "127.0.0.1", "port": hub, "hub_port": hubint, "config_dir": f"{root}/etc/jupyter"},
        "users": {"admin": ADMIN, "admin_password_env": PW_ENV},
        "services": {"manager": "process", "start": True},
    }
    for section, values in (steps_answers or {}).items():
        data.setdefault(section, {}).update(values)
    (root / "answers.toml").write_text(tomli_w.dumps(data))
    return root


def install(sh: Shared, root: Path, timeout: float = 1200) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    r = wizard("install", "--unattended", str(root / "answers.toml"), *ONLY, env=sh.env, timeout=timeout)
    print(f"  install {root.name}: rc {r.returncode} in {time.monotonic() - t0:.0f}s")
    assert r.returncode == 0, (r.stdout + r.stderr)[-5000:]
    return r


def install_until_killed(sh: Shared, root: Path, *, pause: str = "", when=None, timeout: float = 600) -> str:
    """Start the install in its own process group; kill -9 the group at the pause point (or when
    `when()` holds). Returns what the killed run printed."""
    note = root / "paused-at"
    env = {**os.environ, **sh.env}
    if pause:
        env.update(JEG_WIZARD_TEST_PAUSE_AT=pause, JEG_WIZARD_TEST_PAUSE_FILE=str(note))
    log = open(root / "killed-run.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jeg_wizard", "install", "--unattended", str(root / "answers.toml"), *ONLY],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )
    t0 = time.monotonic()
    try:
        while True:
            if (pause and note.exists()) or (when and when()):
                break
            if proc.poll() is not None:
                pytest.fail(
                    f"the install ended (rc {proc.returncode}) before the kill point:\n"
                    + (root / "killed-run.log").read_text()[-4000:]
                )
            if time.monotonic() - t0 > timeout:
                pytest.fail(f"kill point not reached in {timeout}s:\n" + (root / "killed-run.log").read_text()[-4000:])
            time.sleep(0.02)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        log.close()
    note.unlink(missing_ok=True)
    print(f"  killed {root.name} after {time.monotonic() - t0:.1f}s" + (f" at '{pause}'" if pause else ""))
    return (root / "killed-run.log").read_text()


# ------------------------------------------------------------------ the end state


SKIP = (
    "log",
    "state/journal.jsonl",
    "state/backups",
    "state/running",
    "state/gateway/runtime",
    "state/install.lock",
    "killed-run.log",
    "kernel-venv",
)


def end_state(root: Path, replace: dict[str, str]) -> dict[str, str]:
    """path (relative) -> mode + sha256 of the content with secrets and root paths normalized."""
    L = Layout(load(root / "answers.toml"))
    hidden = [p.read_text().strip() for p in [*L.secrets_dir.glob("*"), L.cookie_secret_file] if p.is_file()]
    subs = [(str(root), "@ROOT@"), *replace.items()]
    subs.sort(key=lambda kv: -len(kv[0]))

    def norm(text: str) -> str:
        for h in hidden:
            text = text.replace(h, "<secret>")
        for a, b in subs:
            text = text.replace(a, b)
        return re.sub(r'"digest": "[0-9a-f]+"', '"digest": "-"', text)

    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        dirnames[:] = [d for d in dirnames if os.path.normpath(os.path.join(rel_dir, d)) not in SKIP]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in SKIP or (rel.startswith("state/services/") and rel.endswith(".pid")):
                continue
            st = p.lstat()
            if p.is_symlink():
                out[rel] = "link:" + norm(os.readlink(p))
            elif p.is_dir():
                out[rel] = f"dir:{st.st_mode & 0o7777:o}"
            else:
                data = p.read_bytes()
                try:
                    data = norm(data.decode()).encode()
                except UnicodeDecodeError:
                    pass
                out[rel] = f"{st.st_mode & 0o7777:o}:{hashlib.sha256(data).hexdigest()}"
    return out


def facts(sh: Shared, root: Path) -> dict:
    """What is not a file under root: the user, the running services, the processes."""
    L = Layout(load(root / "answers.toml"))
    user = UserAccount(ADMIN, lambda: sh.env[PW_ENV])
    pm = ProcessManager(L.services_dir)
    import httpx

    gw = httpx.get(f"{L.gateway_url}/api", timeout=10).status_code
    procs = processes_under(root)
    import pwd

    return {
        "user": (user.exists(), user.password_matches()),
        "gateway user": pwd.getpwnam(GW_USER).pw_shell,
        "services": {n: bool(pm.pid(n)) for n in pm.names()},
        "gateway /api": gw,
        "processes": sorted(
            ("supervisor" if "jeg_wizard.supervisor" in c else os.path.basename(c.split("\0")[1] if "\0" in c else c))
            for c in procs.values()
        ),
    }


def processes_under(root: Path) -> dict[int, str]:
    out = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if str(root) in cmd:
                out[int(d.name)] = cmd
    return out


def kill_processes_under(root: Path) -> None:
    for pid in processes_under(root):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def remove_users() -> None:
    subprocess.run(["userdel", "-r", ADMIN], capture_output=True)
    subprocess.run(["userdel", GW_USER], capture_output=True)


def stop(sh: Shared, root: Path) -> None:
    wizard("services", "stop", "--state-dir", str(root / "state"), timeout=120)
    remove_users()
    kill_processes_under(root)
    if os.environ.get("JEGW_KEEP") != "1":
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def baseline(shared):
    remove_users()
    root = new_root(shared, "baseline")
    install(shared, root, timeout=2400)
    state, f = end_state(root, {}), facts(shared, root)
    print(f"  baseline: {len(state)} paths, {f}")
    stop(shared, root)  # its ports are the ones every run uses
    return state, f


def first_backup_is_the_original(root: Path) -> None:
    cfg = str(root / "etc" / "jupyter" / "jupyterhub_config.py")
    first = next(e for e in Journal(root / "state" / "journal.jsonl").entries() if e.get("path") == cfg)
    assert Path(first["backup"]).read_bytes() == FOREIGN_HUB_CONFIG


# ------------------------------------------------------------------ the kill points


def _part(root):
    p = root / "state" / "downloads" / f"{SPARK_NAME}.tgz.part"
    return lambda: p.exists() and p.stat().st_size > 3 * 1024 * 1024


def _extracting(root):
    jars = root / "opt" / f".{SPARK_NAME}.partial" / "jars"
    return lambda: jars.is_dir() and len(os.listdir(jars)) > 100


def _pip_running(root):
    seen = {}

    def when():
        running = any("pip" in c and "install" in c for c in processes_under(root / "kernel-venv").values())
        if running:
            seen.setdefault("t", time.monotonic())
        return running and time.monotonic() - seen["t"] > 1.5

    return when


POINTS = {
    # name: (pause label (with @ROOT@), condition factory, own kernel venv)
    "mid-download": ("", _part, False),
    "mid-extract": ("", _extracting, False),
    "after-symlink-before-journal": ("after symlink", None, False),
    **{f"step-boundary-{s}": (f"step {s}", None, False) for s in STEPS[1:]},
    "mid-env-block-write": ("mid managed block in", None, False),
    "mid-pip-kernel-venv": ("", _pip_running, True),
    "kernel-json-before-rename": ("rename @ROOT@/share/jupyter/kernels/spark_python_local/kernel.json", None, False),
    "gateway-half-started": ("mid service gateway running", None, False),
    "user-created-no-password": (f"mid user {ADMIN}", None, False),
    "mid-hub-config-write+cut-journal-line": ("mid write @ROOT@/etc/jupyter/jupyterhub_config.py", None, False),
}


@pytest.mark.parametrize("point", list(POINTS))
def test_kill_then_rerun_ends_like_an_uninterrupted_install(point, shared, baseline):
    pause, cond, own_venv = POINTS[point]
    base_state, base_facts = baseline
    remove_users()
    root = new_root(shared, point, own_kernel_venv=own_venv)
    try:
        killed = install_until_killed(
            shared, root, pause=pause.replace("@ROOT@", str(root)), when=cond(root) if cond else None
        )
        assert "Install complete" not in killed
        if point.endswith("cut-journal-line"):
            with open(root / "state" / "journal.jsonl", "ab") as j:
                j.write(b'{"ts": 1, "step": "hub_config", "kind": "fi')  # as if the crash cut the last line
        r = install(shared, root)
        if point == "mid-download":
            assert "resuming the download at byte" in r.stdout
        if point == "gateway-half-started":
            print(
                "  the re-run "
                + (
                    "waited for the gateway the killed run had started"
                    if "(started by an earlier run) answers" in r.stdout
                    else "found the gateway answering"
                )
            )
        if point == "mid-pip-kernel-venv":
            assert "stopped a command left running by an interrupted run" in r.stdout + r.stderr
        replace = {str(root / "kernel-venv"): str(shared.kernel_venv)} if own_venv else {}
        state = end_state(root, replace)
        missing = sorted(set(base_state) - set(state))
        extra = sorted(set(state) - set(base_state))
        differ = sorted(k for k in set(state) & set(base_state) if state[k] != base_state[k])
        assert not (missing or extra or differ), f"missing {missing}\nextra {extra}\ndiffer {differ}"
        assert (root / "etc" / "environment").read_bytes().startswith(FOREIGN_ENV + b"\n# BEGIN jeg-wizard")
        assert facts(shared, root) == base_facts
        first_backup_is_the_original(root)
        if own_venv:  # the rebuilt venv holds what the uninterrupted one holds
            freeze = [str(v / "bin" / "python") for v in (root / "kernel-venv", shared.kernel_venv)]
            a, b = (subprocess.run([py, "-m", "pip", "freeze"], capture_output=True, text=True).stdout for py in freeze)
            assert a == b and (root / "kernel-venv" / ".jeg-wizard-requirements").exists()
    finally:
        stop(shared, root)
