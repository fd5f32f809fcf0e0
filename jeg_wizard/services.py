"""Starting and stopping the gateway and the hub: systemd units when PID 1 is systemd,
otherwise detached supervised processes with pid and log files (see supervisor.py)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import distro, files
from .runner import Runner


@dataclass
class ServiceSpec:
    name: str  # gateway | hub | spark-master | spark-worker
    description: str
    argv: list[str]
    log: str
    env: dict[str, str] = field(default_factory=dict)  # not secret
    env_file: str | None = None  # 0600 KEY=VALUE lines with the secrets
    cwd: str = "/"
    user: str | None = None
    ready_url: str = ""  # answers with one of ready_codes once the service is up
    ready_codes: tuple[int, ...] = (200,)
    ready_verify: str | bool = True  # httpx verify= for an https ready_url (a CA file)
    stop_grace: float = 20
    config_files: list[str] = field(default_factory=list)  # read at start: a change means a restart
    sandbox: list[str] = field(default_factory=list)  # this service's own systemd hardening lines
    # the program of processes it spawns that outlive its restarts and crashes (user servers): stopped
    # with it by `stop`, and when its configuration changes (they were started with the old one)
    children: str = ""

    def digest(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        for f in ([self.env_file] if self.env_file else []) + self.config_files:
            blob += files.read(f) or b""
        return hashlib.sha256(blob).hexdigest()[:16]


def unit_name(spec: ServiceSpec) -> str:
    return f"jeg-{spec.name}.service"


# Every service of ours takes these (systemd.exec(5)); what differs per service is in spec.sandbox.
HARDENING = [
    "NoNewPrivileges=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "ProtectClock=yes",
    "ProtectHostname=yes",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes",
    "ProtectControlGroups=yes",
    "RestrictSUIDSGID=yes",
    "RestrictRealtime=yes",
    "RestrictNamespaces=yes",
    "LockPersonality=yes",
    "SystemCallArchitectures=native",
    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
]


def render_unit(spec: ServiceSpec) -> str:
    """A small hardened unit; secrets via EnvironmentFile, never in ExecStart; output to the journal."""
    import shlex

    lines = [
        "[Unit]",
        f"Description={spec.description} (jeg-wizard)",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        f"ExecStart={shlex.join(spec.argv)}",
        f"WorkingDirectory={spec.cwd}",
        *(f'Environment="{k}={v}"' for k, v in spec.env.items()),
        *([f"EnvironmentFile={spec.env_file}"] if spec.env_file else []),
        *([f"User={spec.user}"] if spec.user and spec.user != "root" else []),
        "Restart=on-failure",
        "RestartSec=3",
        f"TimeoutStopSec={int(spec.stop_grace)}",
        # its children (user servers) live on through a restart or crash of the service itself
        f"KillMode={'process' if spec.children else 'control-group'}",
        *HARDENING,
        *spec.sandbox,
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ]
    return "\n".join(lines)


def stop_children(program: str, grace: float = 10) -> list[int]:
    """Stop every process running `program` (as argv[0] or a script's argv[1]); their pids."""
    if not program:
        return []
    target = program.encode()
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                argv = (d / "cmdline").read_bytes().split(b"\0")[:2]
            except OSError:
                continue
            if target in argv:
                pids.append(int(d.name))
    _signal_all(pids, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    _signal_all([p for p in pids if _alive(p)], signal.SIGKILL)
    return pids


def _signal_all(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _alive(pid: int) -> bool:
    try:
        _reap(pid)
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def _recorded_children(services_dir: Path, name: str) -> str:
    try:
        return json.loads((Path(services_dir) / f"{name}.json").read_text()).get("children", "")
    except (OSError, ValueError):
        return ""


class ProcessManager:
    """Detached supervisor processes; state in <state_dir>/services."""

    kind = "process"

    def __init__(self, services_dir: Path):
        self.dir = Path(services_dir)

    def spec_path(self, name: str) -> Path:
        return self.dir / f"{name}.json"

    def _pid(self, name: str, suffix: str = "pid") -> int | None:
        try:
            pid = int((self.dir / f"{name}.{suffix}").read_text().split()[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError, IndexError):
            return None

    def pid(self, name: str) -> int | None:
        """The service's own pid (the supervisor's child)."""
        return self._pid(name) and self._pid(name, "child.pid")

    def running_digest(self, name: str) -> str | None:
        if not self._pid(name):
            return None
        try:
            return json.loads(self.spec_path(name).read_text()).get("digest")
        except (OSError, ValueError):
            return None

    def start(self, spec: ServiceSpec) -> None:
        self.dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        data = {**asdict(spec), "digest": spec.digest()}
        files.atomic_write(self.spec_path(spec.name), json.dumps(data, indent=1).encode(), 0o600)
        Path(spec.log).parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "jeg_wizard.supervisor", str(self.spec_path(spec.name))],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
                cwd="/",
                env={**os.environ, "PYTHONPATH": package_root()},
            )
        (self.dir / f"{spec.name}.pid").write_text(f"{proc.pid}\n")

    def stop(self, name: str, timeout: float = 40, children: bool = True) -> bool:
        pid = self._pid(name)
        if not pid:
            if children:
                stop_children(_recorded_children(self.dir, name))
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            _reap(pid)
            time.sleep(0.2)
        else:
            os.killpg(pid, signal.SIGKILL)
        child = self._pid(name, "child.pid")
        if child:  # the supervisor was killed before it could stop its child
            try:
                os.killpg(child, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for suffix in ("pid", "child.pid"):
            (self.dir / f"{name}.{suffix}").unlink(missing_ok=True)
        if children:
            stop_children(_recorded_children(self.dir, name))
        return True

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def restarts(self, name: str) -> int:
        """How often the supervisor restarted it since it was started."""
        try:
            return int((self.dir / f"{name}.restarts").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return 0


class SystemdManager:
    """systemctl through the runner: what it changes is logged (and only said in a dry run)."""

    kind = "systemd"

    def __init__(self, services_dir: Path, unit_dir: Path = Path("/etc/systemd/system"), runner: Runner | None = None):
        self.dir, self.unit_dir = Path(services_dir), unit_dir
        self.runner = runner or Runner()

    def _show(self, prop: str, name: str) -> str:
        return self.runner.probe(["systemctl", "show", "-p", prop, "--value", f"jeg-{name}.service"]).text.strip()

    def pid(self, name: str) -> int | None:
        try:
            return int(self._show("MainPID", name) or 0) or None
        except ValueError:
            return None

    def running_digest(self, name: str) -> str | None:
        if not self.pid(name):
            return None
        try:
            return json.loads((self.dir / f"{name}.json").read_text()).get("digest")
        except (OSError, ValueError):
            return None

    def start(self, spec: ServiceSpec) -> None:
        self.runner.mkdir(self.dir, 0o700)
        self.runner.write(self.unit_dir / unit_name(spec), render_unit(spec).encode(), 0o644)
        self.runner.write(
            self.dir / f"{spec.name}.json",
            json.dumps({**asdict(spec), "digest": spec.digest()}, indent=1).encode(),
            0o600,
        )
        self.runner.systemctl("daemon-reload")
        r = self.runner.systemctl("enable", "--now", unit_name(spec))
        if r.rc:
            raise RuntimeError(f"systemctl enable --now {unit_name(spec)} failed: {r.text.strip()}")
        self.runner.systemctl("restart", unit_name(spec))

    def stop(self, name: str, timeout: float = 40, children: bool = True) -> bool:
        was = self.pid(name) is not None
        self.runner.systemctl("stop", f"jeg-{name}.service")
        if children:
            program = _recorded_children(self.dir, name)
            self.runner.effect(
                f"stop what {name} spawned ({program or 'nothing recorded'})", lambda: stop_children(program)
            )
        return was

    def names(self) -> list[str]:
        return sorted(p.stem for p in self.dir.glob("*.json"))

    def restarts(self, name: str) -> int:
        """How often systemd restarted it since its last start by hand."""
        try:
            return int(self._show("NRestarts", name) or 0)
        except ValueError:
            return 0


def manager(kind: str, services_dir: Path, runner: Runner | None = None):
    if kind == "auto":
        kind = "systemd" if distro.systemd_running() else "process"
    return SystemdManager(services_dir, runner=runner) if kind == "systemd" else ProcessManager(services_dir)


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def package_root() -> str:
    return str(Path(__file__).resolve().parent.parent)


# compile() of the file, in the interpreter that runs the service: its Python decides what parses
_COMPILE = "import sys; p = sys.argv[1]; compile(open(p, 'rb').read(), p, 'exec')"


def config_error(python: str | Path, config: str | Path) -> str:
    """Why a Python config does not compile in the service's own interpreter ("" when it does).
    JEG starts on its defaults (port 8888, no token) when its config does not load: never start it so.

    When the service's interpreter is this one (its venv's python and ours are links to the same binary),
    the compile runs here: the same binary compiles alike, without a process start (a fifth of a `status
    --json`); a failure is run in the service's interpreter anyway, for its words."""
    if _compiles_here(python, config):
        return ""
    try:
        r = subprocess.run([str(python), "-I", "-c", _COMPILE, str(config)], capture_output=True, text=True, timeout=20)
    except FileNotFoundError:
        return f"its interpreter {python} is missing: the venv is gone or moved"
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"cannot run its interpreter {python}: {e}"
    if r.returncode == 0:
        return ""
    lines = [line.strip() for line in r.stderr.splitlines() if line.strip()]
    where = next((line for line in reversed(lines) if line.startswith('File "')), "")
    error = lines[-1] if lines else f"exit code {r.returncode}"
    at = f" ({where.split(',', 1)[1].strip()})" if "," in where else ""
    return f"its config {config} does not compile in {python}: {error}{at}"


def _compiles_here(python: str | Path, config: str | Path) -> bool:
    """The config compiles in this process, and this process is the service's interpreter."""
    try:
        if not sys.executable or os.path.realpath(python) != os.path.realpath(sys.executable):
            return False
        with open(config, "rb") as f:
            compile(f.read(), str(config), "exec", dont_inherit=True, optimize=0)  # as _COMPILE, no flags of ours
    except (OSError, ValueError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


def spec_config_error(spec: ServiceSpec) -> str:
    """The spec's Python configs, each compiled by the python beside its program (the venv's)."""
    python = Path(spec.argv[0]).parent / "python"
    for config in spec.config_files:
        if config.endswith(".py") and python.exists():
            why = config_error(python, config)
            if why:
                return why
    return ""


def wait_http(
    url: str, timeout: float = 60, log: str | None = None, pid=None, codes=(200,), verify: str | bool = True
) -> float:
    """Poll until url answers with one of codes; bounded. Returns seconds waited. Fails early, saying
    so, when the process (pid(): its current pid or None) dies or is replaced by a restart."""
    import httpx  # here: the checks import this module and never wait

    from .health import describe_ssl_error, tls_verify

    t0 = time.monotonic()
    last, seen, died = "", None, ""
    verify = tls_verify(verify)  # one SSL context (and one read of the CA file) for every poll
    while (waited := time.monotonic() - t0) < timeout:
        try:
            r = httpx.get(url, timeout=3, verify=verify)
            if r.status_code in codes:
                return time.monotonic() - t0
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            why = describe_ssl_error(e)
            last = why if why.startswith("TLS") else type(e).__name__
        if pid is not None:
            now = pid()
            if seen is None and now is None and waited > 5:
                # not seen alive: it never started, or it exits and is restarted between two polls (a poll
                # waits up to 3 s when something else holds the port and does not answer)
                died = "was not running"
            elif seen is not None and now != seen:
                died = "exited" if now is None else f"exited and was restarted (pid {seen}, now {now})"
            seen = seen or now
            if died:
                break
        time.sleep(0.3)
    tail = read_log(log) if log else ""
    if died:
        from .checks.processes import cause_lines

        cause = " | ".join(cause_lines(read_log(log, 120))) if log else ""
        raise RuntimeError(
            f"the process {died} {time.monotonic() - t0:.0f}s after start, before it answered at {url} "
            f"(last: {last}){'; cause: ' + cause if cause else ''}; end of {log}:\n{tail}"
        )
    raise RuntimeError(f"{url} did not answer within {timeout:.0f}s (last: {last}); end of {log}:\n{tail}")


JOURNAL = "journalctl -u "


def log_ref(kind: str, name: str, log_file: str) -> str:
    """Where a service's output is: the journal under systemd, else its log file."""
    return f"{JOURNAL}jeg-{name}" if kind == "systemd" else log_file


def read_log(ref: str, lines: int = 25) -> str:
    """The last lines of a log_ref()."""
    if ref.startswith(JOURNAL):
        unit = ref[len(JOURNAL) :]
        try:
            return subprocess.run(
                ["journalctl", "-u", unit, "-n", str(lines), "--no-pager", "-o", "short-iso"],
                capture_output=True,
                text=True,
                timeout=15,
            ).stdout.rstrip()
        except (OSError, subprocess.TimeoutExpired):
            return ""
    try:
        return "\n".join(Path(ref).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
