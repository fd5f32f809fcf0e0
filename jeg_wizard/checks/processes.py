"""Processes and listening sockets as /proc shows them: who holds a port, what a process runs."""

from __future__ import annotations

import os
import re
from pathlib import Path


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return {}
    return dict(kv.split("=", 1) for kv in raw.split("\0") if "=" in kv)


def uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def uptime(pid: int) -> float | None:
    try:
        start_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = float(Path("/proc/uptime").read_text().split()[0])
        return boot - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def describe(pid: int | None) -> str:
    if not pid:
        return "unknown process"
    return f"pid {pid} ({' '.join(cmdline(pid))[:120]})"


def human(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def _hex_ip(text: str) -> str:
    """An address as /proc/net/tcp{,6} writes it (little-endian words) in its usual form."""
    import ipaddress

    raw = bytes.fromhex(text)
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(raw)
    if ip.version == 6 and ip.ipv4_mapped:
        return str(ip.ipv4_mapped)
    return str(ip)


def _listening() -> dict[int, list[tuple[str, int]]]:
    """port -> (address, socket inode) in LISTEN state (tcp and tcp6)."""
    out: dict[int, list[tuple[str, int]]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A":
                addr, port = f[1].rsplit(":", 1)
                try:
                    ip = _hex_ip(addr)
                except ValueError:
                    ip = "?"
                out.setdefault(int(port, 16), []).append((ip, int(f[9])))
    return out


def _socket_owners() -> dict[int, int]:
    """socket inode -> pid, for every process we can see."""
    owners: dict[int, int] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            for fd in (d / "fd").iterdir():
                try:
                    target = os.readlink(fd)
                except OSError:
                    continue
                if target.startswith("socket:["):
                    owners[int(target[8:-1])] = int(d.name)
        except OSError:
            continue
    return owners


WILDCARD = ("0.0.0.0", "::")


def covers(bound: str, wanted: str) -> bool:
    """A socket bound to `bound` accepts connections to `wanted`."""
    return bound == wanted or bound in WILDCARD or (wanted in WILDCARD and bound in WILDCARD)


class Sockets:
    """One snapshot of the listening ports and their owners, shared by the checks of one run."""

    def __init__(self) -> None:
        self.listening = _listening()
        self.owners = _socket_owners()

    def port_owner(self, port: int, ip: str | None = None) -> int | None:
        """Who listens on port (on an address that takes connections to ip, when given)."""
        for addr, inode in self.listening.get(port, []):
            if inode in self.owners and (ip is None or covers(addr, ip) or ip in WILDCARD):
                return self.owners[inode]
        return None

    def held_unseen(self, port: int, ip: str | None = None) -> bool:
        """Someone listens on port whose process this host cannot see (another container or PID namespace)."""
        return any(
            inode not in self.owners and (ip is None or covers(addr, ip) or ip in WILDCARD)
            for addr, inode in self.listening.get(port, [])
        )

    def addresses(self, port: int, pids: set[int]) -> list[str]:
        """The addresses these processes listen on at port."""
        return sorted({addr for addr, inode in self.listening.get(port, []) if self.owners.get(inode) in pids})

    def ports_of(self, pid: int) -> list[int]:
        inodes = {i for i, p in self.owners.items() if p == pid}
        return sorted(port for port, ins in self.listening.items() if inodes & {i for _, i in ins})


def running(program: str) -> list[int]:
    """Pids whose argv[0] or argv[1] (a script) contains program."""
    return [
        int(d.name)
        for d in Path("/proc").iterdir()
        if d.name.isdigit() and any(program in a for a in cmdline(int(d.name))[:2])
    ]


_ERROR = re.compile(r"Error|Exception|error:|\bERROR\b|CRITICAL|FATAL|Errno|[Ff]ailed|[Cc]annot|[Uu]nable")
_SUPERVISOR = re.compile(r" systemd\[1\]: |^--- .*supervisor: ")  # our supervisors' own lines, not the service's


_STARTED = re.compile(r"supervisor: starting |systemd\[1\]: Started ")


def last_run(text: str) -> str:
    """The output of the service's last start that failed with an error (else that said something):
    older runs' errors are history, and a run just starting has not said why the last one died."""
    runs = _STARTED.split(text)
    bodies = ["\n".join(run.splitlines()[1:]) for run in runs[1:]] if len(runs) > 1 else runs
    own = [[line for line in body.splitlines() if line.strip() and not _SUPERVISOR.search(line)] for body in bodies]
    for body, lines in zip(reversed(bodies), reversed(own), strict=True):
        if any(_ERROR.search(line) for line in lines):
            return body
    for body, lines in zip(reversed(bodies), reversed(own), strict=True):
        if lines:
            return body
    return bodies[-1]


_CHILD = re.compile(r"\[ConfigProxy\]")  # the hub's proxy logs into the hub's log: its errors are not the hub's
_EXCEPTION = re.compile(r"(^|[\s:])[A-Za-z_][\w.]*(Error|Exception|Exit)(\b|:)")  # a traceback's last line


def cause_lines(text: str, n: int = 3) -> list[str]:
    """The service's own last error lines (else its last lines) of its last run, not its supervisor's
    notices nor its proxy's; a traceback's exception line is the cause when there is one."""
    text = last_run(text)
    own = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not _SUPERVISOR.search(line) and not _CHILD.search(line)
    ]
    errors = [line for line in own if _ERROR.search(line)]
    raised = [i for i, line in enumerate(errors) if _EXCEPTION.search(line)]
    if raised:  # the exception last, the error lines just before it for context
        errors = errors[: raised[-1] + 1]
    return (errors or own)[-n:]
