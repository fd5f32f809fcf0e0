"""The wizard's install vs. a plain serial shell script doing the same installs, cold and warm caches.

The script is made from the wizard's own plan (a dry run on the same answers): every apt-get, venv,
pip and npm command, in the README's order, one after another under `set -e` — the same pins by
construction. The script installs with pip (the plan made with JEG_WIZARD_INSTALLER=pip); the wizard
builds its venvs with uv, given pip's own settings (`pip config list`: indexes, find-links,
constraints, PIP_* variables, PIP_NO_CACHE_DIR as --no-cache). Each run installs into a fresh temp
root (prefix, state, logs, kernels, configs, /etc/environment), so nothing is found done; apt
packages are on this box for both.
- cold: PIP_NO_CACHE_DIR=1 and an empty npm cache, for the script and the wizard alike;
- warm: the usual caches (pip's, uv's, npm's), filled first by untimed runs of the script with pip
  and with uv.
Rows: the script; the wizard with one worker (steps one after another: the "before"); the wizard as
it ships (steps side by side). The wizard runs the whole install (configs, users, services started,
the login -> Spark job check), the script only its installs. Not timed: the Spark smoke job that writes
the kernels' class archive, which the wizard starts in the background once its install has ended (about
30 s of one core more; each root's `services stop` ends it, so no run overlaps the next). Also: the
wizard's peak RSS (VmHWM of its own process, not of pip or Java).

Targets: wizard <= 0.6x the script, cold and warm; peak RSS <= 150 MB.
Usage (root, the wizard's venv): python bench/install_vs_script.py [--runs 1] [--only warm|cold]
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
INSTALLS = ("apt-get", "npm", "pip", "venv")  # the commands the script keeps (argv[0] or an argument)
SERIAL = "import sys, jeg_wizard.engine as e; e.WORKERS = 1; from jeg_wizard.cli import main; sys.exit(main())"


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Root:
    """A fresh install root with its answers; removed (services stopped, users deleted) after."""

    def __init__(self):
        import tomli_w

        self.dir = Path(tempfile.mkdtemp(prefix="jegw-bench-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        (self.dir / "etc").mkdir()
        (self.dir / "etc" / "environment").write_text('PATH="/usr/local/bin:/usr/bin:/bin"\n')
        tag = secrets.token_hex(3)
        self.users = [f"jegwb{tag}", f"jegwbg{tag}"]
        gw, hub, hubint, api = free_ports(4)
        r = self.dir
        data = {
            "system": {"prefix": f"{r}/opt", "state_dir": f"{r}/state", "log_dir": f"{r}/log"},
            "environment": {"file": f"{r}/etc/environment"},
            "kernels": {"dir": f"{r}/share/jupyter/kernels"},
            "gateway": {"port": gw, "user": self.users[1]},
            "proxy": {"api_port": api},
            "hub": {"ip": "127.0.0.1", "port": hub, "hub_port": hubint, "config_dir": f"{r}/etc/jupyter"},
            "users": {"admin": self.users[0], "admin_password_env": "JEGW_BENCH_PASSWORD"},
            "services": {"manager": "process"},
        }
        self.answers = r / "answers.toml"
        self.answers.write_text(tomli_w.dumps(data))

    def remove(self) -> None:
        subprocess.run(
            [sys.executable, "-m", "jeg_wizard", "services", "stop", "--state-dir", str(self.dir / "state")],
            cwd=REPO,
            capture_output=True,
            stdin=subprocess.DEVNULL,
        )
        for u in self.users:
            subprocess.run(["userdel", "-r", u], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)


def script_for(root: Root, installer: str = "pip") -> str:
    """The install commands of the wizard's plan for this root, one after another, with pip (or uv)."""
    from jeg_wizard.answers import load
    from jeg_wizard.engine import Engine, make_context
    from jeg_wizard.runner import DryRunRunner
    from jeg_wizard.steps import STEPS

    os.environ["JEG_WIZARD_INSTALLER"] = installer  # the plan's dry run, in this process only
    runner = DryRunRunner()
    engine = Engine(make_context(load(root.answers), runner, dry_run=True), STEPS)
    engine.workers = 1
    engine.install()
    del os.environ["JEG_WIZARD_INSTALLER"]
    keep = [c for c in runner.commands if os.path.basename(c[0]) in INSTALLS or any(a in INSTALLS for a in c[1:3])]
    if not any("pip" in c for c in keep):
        sys.exit("install_vs_script: the plan has no pip command: is this root fresh?")
    return "set -euo pipefail\n" + "".join(shlex.join(c) + "\n" for c in keep)


def peak_rss(pid: int, out: dict) -> None:
    """VmHWM of the process (its own peak), read until it ends."""
    while True:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    out["kb"] = int(line.split()[1])
        except OSError:
            return
        time.sleep(0.2)


def timed(argv: list[str], env: dict) -> tuple[float, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    rss: dict = {}
    watcher = threading.Thread(target=peak_rss, args=(proc.pid, rss), daemon=True)
    watcher.start()
    out, _ = proc.communicate()
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"install_vs_script: {' '.join(argv[:4])} failed (exit {proc.returncode}):\n{out[-3000:]}")
    watcher.join(1)
    return seconds, rss.get("kb", 0)


def one(kind: str, env: dict) -> tuple[float, int]:
    root = Root()
    try:
        if kind.startswith("script"):
            path = root.dir / "install.sh"
            path.write_text(script_for(root, "uv" if kind == "script-uv" else "pip"))
            return timed(["bash", str(path)], env)
        argv = [sys.executable, "-m", "jeg_wizard"] if kind == "wizard" else [sys.executable, "-c", SERIAL]
        return timed([*argv, "install", "--unattended", str(root.answers)], env)
    finally:
        root.remove()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--only", choices=["cold", "warm"])
    args = p.parse_args()
    if os.geteuid() != 0:
        sys.exit("install_vs_script: run as root (the install does)")
    os.environ["JEGW_BENCH_PASSWORD"] = "Bench-" + secrets.token_hex(8)  # the plan's dry run reads it too
    base = dict(os.environ)
    npm_cache = Path(tempfile.mkdtemp(prefix="jegw-bench-npm-"))
    try:
        for mode in [m for m in ("cold", "warm") if args.only in (None, m)]:
            if mode == "warm":
                one("script", base)  # untimed: fills pip's and npm's caches
                one("script-uv", base)  # untimed: fills uv's, which the wizard uses
            results: dict[str, list[tuple[float, int]]] = {}
            for _ in range(args.runs):
                for kind in ("script", "wizard-serial", "wizard"):
                    env = dict(base)
                    if mode == "cold":
                        shutil.rmtree(npm_cache, ignore_errors=True)
                        env.update(PIP_NO_CACHE_DIR="1", npm_config_cache=str(npm_cache))
                    results.setdefault(kind, []).append(one(kind, env))
            script = min(s for s, _ in results["script"])
            for kind, runs in results.items():
                best = min(s for s, _ in runs)
                rss = max(kb for _, kb in runs) / 1024
                extra = f"   peak RSS {rss:5.0f} MB" if kind != "script" else ""
                print(f"{mode:4s} {kind:14s} {best:7.1f} s   {best / script:4.2f}x the script{extra}")
            ratio = min(s for s, _ in results["wizard"]) / script
            print(f"{mode:4s} target wizard <= 0.6x the script: {'met' if ratio <= 0.6 else 'MISSED'} ({ratio:.2f}x)")
            rss = max(kb for _, kb in results["wizard"]) / 1024
            print(f"{mode:4s} target peak RSS <= 150 MB: {'met' if rss <= 150 else 'MISSED'} ({rss:.0f} MB)")
    finally:
        shutil.rmtree(npm_cache, ignore_errors=True)


if __name__ == "__main__":
    main()
