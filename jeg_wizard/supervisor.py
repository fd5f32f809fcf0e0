"""A detached supervisor for one service when PID 1 is not systemd.

`python -m jeg_wizard.supervisor SPEC.json`: runs the service in its own process group with its
log file, restarts it when it dies (bounded), and stops the whole group on SIGTERM. Secret
environment comes from a 0600 env file, so nothing secret is ever on a command line.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

# what every service of ours starts with (the unit's or the supervisor's environment), before its own env
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def read_env_file(path: str | None) -> dict[str, str]:
    env: dict[str, str] = {}
    if not path or not os.path.exists(path):
        return env
    for line in Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            k, v = line.split("=", 1)
            env[k.strip()] = v.strip()
    return env


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    name = spec["name"]
    rundir = Path(spec_path).parent
    child_pidfile = rundir / f"{name}.child.pid"
    # our own pid file too: an installer killed right after starting us must not leave us unknown
    (rundir / f"{name}.pid").write_text(f"{os.getpid()}\n")
    env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
    env.update(spec.get("env", {}))
    env.update(read_env_file(spec.get("env_file")))
    user = spec.get("user")
    if user and user != "root":
        pw = pwd.getpwnam(user)
        env.update(HOME=pw.pw_dir, USER=user, LOGNAME=user)
    else:
        env.setdefault("HOME", "/root")
    stopping = False
    child: subprocess.Popen | None = None

    kill_at = 0.0

    def on_term(signum, frame):
        # only flag and forward: the main loop reaps the child and escalates after the grace time
        nonlocal stopping, kill_at
        if not stopping:
            stopping = True
            kill_at = time.monotonic() + float(spec.get("stop_grace", 20))
            if child:
                _signal_group(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    failures: list[float] = []
    restarts = 0
    (rundir / f"{name}.restarts").unlink(missing_ok=True)
    log = open(spec["log"], "ab", buffering=0)
    while not stopping:
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} supervisor: starting {name}\n".encode())
        child = subprocess.Popen(
            spec["argv"],
            env=env,
            cwd=spec.get("cwd") or "/",
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=user if user and user != "root" else None,
            group=pwd.getpwnam(user).pw_gid if user and user != "root" else None,
            extra_groups=[] if user and user != "root" else None,
        )
        child_pidfile.write_text(f"{child.pid}\n")
        while True:
            try:
                rc = child.wait(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if stopping and time.monotonic() > kill_at:
                    _signal_group(child.pid, signal.SIGKILL)
        if stopping:
            _signal_group(child.pid, signal.SIGKILL)  # stragglers left in the service's group
            break
        log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} supervisor: {name} exited with {rc}\n".encode())
        restarts += 1
        (rundir / f"{name}.restarts").write_text(f"{restarts}\n")  # the doctor names a crash loop from it
        now = time.monotonic()
        failures = [t for t in failures if now - t < 60] + [now]
        if len(failures) >= 5:
            log.write(f"--- supervisor: {name} failed 5 times in 60 s; giving up\n".encode())
            break
        time.sleep(min(2 ** len(failures), 10))
    child_pidfile.unlink(missing_ok=True)
    (rundir / f"{name}.pid").unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
