"""Starts one kernel as the hub user named in KERNEL_USERNAME (gateway.impersonation = true).

The gateway (root) runs this with the kernel venv's python, as the kernelspec's argv:
    python -s launch_as_user.py -f <the gateway's connection file>
It validates the user, reads the gateway's connection file (0600, root) while still root, drops
privileges for good, enters the user's home, hands the connection info over in a 0600 file inside
a fresh 0700 directory it creates as the user, and runs ipykernel in this very process (so the pid
the gateway signals is the kernel). That copy and its directory are removed as soon as ipykernel
has read them: nothing with the connection key stays on disk, even if the kernel is killed.
Refusals go to stderr (the gateway's log) and exit 1. Standard library only until ipykernel.

Other kernels (Scala, R) come after `--`: `launch_as_user.py -f CONN -- PROGRAM ARG...` does the same as
the user, then execs PROGRAM ARG... <its copy of the connection file> (so the pid is still the kernel's). A
program reads that copy at its own pace: a child of ours removes it as soon as the kernel listens on the
ports the file names (it has read it), or when the kernel is gone, or after MAX_WAIT seconds.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import sys
import tempfile

# the installer's rule for user names: nothing a path or a shell could read specially
USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
LOGIN_DEFS = "/etc/login.defs"


class Refused(Exception):
    """The kernel must not start; str() says why, for the gateway's log."""


def uid_range(login_defs: str | None) -> tuple[int, int]:
    """(UID_MIN, UID_MAX) from the text of /etc/login.defs; (1000, 60000) when absent or unreadable."""
    found = {"UID_MIN": 1000, "UID_MAX": 60000}
    for line in (login_defs or "").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in found and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
    return found["UID_MIN"], found["UID_MAX"]


def check_user(name: str | None, lookup=pwd.getpwnam, uids: tuple[int, int] = (1000, 60000)):
    """The passwd entry of the user a kernel may run as, or Refused.

    Only regular accounts (UID_MIN..UID_MAX, as useradd hands out to people): system accounts own
    daemons and their data (www-data, postgres, the gateway's own account), and whoever holds the
    gateway token could otherwise name one; above UID_MAX sit nobody (65534) and the like."""
    if not name:
        raise Refused("KERNEL_USERNAME is not set: the gateway did not say whose kernel this is")
    if not USER_RE.match(name):
        raise Refused(f"KERNEL_USERNAME {name!r} is not a valid user name")
    try:
        pw = lookup(name)
    except KeyError:
        raise Refused(f"user {name!r} does not exist on this host") from None
    if pw.pw_uid == 0 or pw.pw_gid == 0:
        raise Refused(f"user {name!r} is root or in group root: kernels never run with root's rights")
    lo, hi = uids
    if not lo <= pw.pw_uid <= hi:
        raise Refused(
            f"user {name!r} (uid {pw.pw_uid}) is a system account, not a person's "
            f"(regular users have uids {lo}..{hi}, UID_MIN/UID_MAX in {LOGIN_DEFS})"
        )
    return pw


def read_connection_file(path: str) -> bytes:
    """The gateway's connection file: must be a regular root-owned 0600 file (no symlink)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise Refused(f"cannot open the connection file {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_mode & 0o077:
            raise Refused(f"the connection file {path} is not a root-owned file readable by root only")
        data = f.read()
    try:
        info = json.loads(data)
    except ValueError:
        raise Refused(f"the connection file {path} is not JSON") from None
    if not isinstance(info, dict) or "key" not in info:
        raise Refused(f"the connection file {path} has no key")
    return data


def drop_privileges(pw) -> None:
    """Become the user for good: groups first (needs root), then gid, then uid; then prove it."""
    os.initgroups(pw.pw_name, pw.pw_gid)
    os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
    os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
    try:
        os.setuid(0)
    except PermissionError:
        pass
    else:
        raise Refused("could switch back to root after dropping privileges; not starting the kernel")
    if os.getresuid() != (pw.pw_uid,) * 3 or os.getresgid() != (pw.pw_gid,) * 3:
        raise Refused("privileges were not dropped completely; not starting the kernel")


def enter_home(pw) -> None:
    env = os.environ
    # the gateway's runtime dir is root's; the user's own default applies
    env.pop("JUPYTER_RUNTIME_DIR", None)
    env.update(HOME=pw.pw_dir, USER=pw.pw_name, LOGNAME=pw.pw_name, SHELL=pw.pw_shell or "/bin/sh")
    try:
        os.chdir(pw.pw_dir)
    except OSError as e:
        raise Refused(f"cannot enter {pw.pw_name}'s home {pw.pw_dir}: {e.strerror}") from None
    env["PWD"] = pw.pw_dir


def hand_over(data: bytes) -> str:
    """Write the connection info as the user: a 0600 file in a fresh 0700 directory; its path."""
    d = tempfile.mkdtemp(prefix="jeg-kernel-")
    path = os.path.join(d, "kernel.json")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
    except OSError:
        shutil.rmtree(d, ignore_errors=True)
        raise
    return path


def run_kernel(path: str) -> None:
    from ipykernel.kernelapp import IPKernelApp

    # not named "Kernel": traitlets would hand the -f option to ipykernel's Kernel class as config too
    class UserKernelApp(IPKernelApp):
        def init_connection_file(self):
            try:
                super().init_connection_file()  # loads it: the key now lives only in this process
            finally:
                shutil.rmtree(os.path.dirname(path), ignore_errors=True)

        def write_connection_file(self, **kwargs):
            pass  # the gateway chose the ports: no copy of the key back on disk

    app = UserKernelApp.instance()
    try:
        app.initialize(["-f", path])
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    app.start()


MAX_WAIT = 3600.0  # seconds; the gateway's kernel_launch_timeout is at most 3600


def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state that the process `pid` holds (its /proc socket inodes vs /proc/net/tcp*)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)
                for line in f:
                    cols = line.split()
                    if len(cols) > 9 and cols[3] == "0A" and cols[9] in inodes:  # 0A: LISTEN
                        ports.add(int(cols[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def alive(pid: int) -> bool:
    """Running: there and not a zombie (its parent, the gateway, reaps it later)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def remove_when_read(path: str, ports: set[int], kernel: int, clock=None, sleep=None) -> None:
    """In a child: wait until the kernel (pid `kernel`) listens on one of `ports`, is gone, or MAX_WAIT passed;
    then remove the connection file's copy and its directory."""
    import time

    clock, sleep = clock or time.monotonic, sleep or time.sleep
    deadline = clock() + MAX_WAIT
    while clock() < deadline and alive(kernel) and not (listening_ports(kernel) & ports):
        sleep(0.2)
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def exec_kernel(path: str, data: bytes, program: list[str]) -> None:
    """exec program + [path]; a forked child removes path once the kernel has read it (remove_when_read)."""
    info = json.loads(data)
    ports = {int(v) for k, v in info.items() if k.endswith("_port") and str(v).isdigit()}
    kernel = os.getpid()
    if os.fork() == 0:  # the child: detached from the kernel's signals, gone with its work
        try:
            os.setsid()
            if os.fork() == 0:
                remove_when_read(path, ports, kernel)
        finally:
            os._exit(0)
    os.wait()  # the first child exits at once: no zombie; the grandchild is init's
    os.execv(program[0], [*program, path])


def main(argv: list[str]) -> int:
    program = None
    if "--" in argv:
        argv, program = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    if len(argv) != 2 or argv[0] != "-f" or program == []:
        print(
            "usage: launch_as_user.py -f CONNECTION_FILE [-- PROGRAM ARG...] (KERNEL_USERNAME in the environment)",
            file=sys.stderr,
        )
        return 2
    user = os.environ.get("KERNEL_USERNAME")
    try:
        if os.geteuid() != 0:
            raise Refused("must be started as root (gateway.impersonation runs the gateway as root)")
        try:
            with open(LOGIN_DEFS) as f:
                defs = f.read()
        except OSError:
            defs = None
        pw = check_user(user, uids=uid_range(defs))
        data = read_connection_file(argv[1])
        drop_privileges(pw)
        enter_home(pw)
        path = hand_over(data)
    except (Refused, OSError) as e:
        print(f"launch_as_user: not starting a kernel for {user!r}: {e}", file=sys.stderr, flush=True)
        return 1
    if program:
        try:
            exec_kernel(path, data, program)
        except OSError as e:
            shutil.rmtree(os.path.dirname(path), ignore_errors=True)
            print(f"launch_as_user: cannot start {program[0]} for {user!r}: {e.strerror}", file=sys.stderr, flush=True)
            return 1
    # like ipykernel_launcher: this script's directory is not the user's import path
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]
    run_kernel(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
