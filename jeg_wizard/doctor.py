"""Diagnose an install: each check knows one real failure mode of this stack, and says the cause,
the fix and the log to read. Probes run concurrently with timeouts, so a hung endpoint never
hangs the caller. Used by `jeg-wizard doctor`, `status --json` and the status screen."""
from __future__ import annotations

import json
import os
import pwd
import re
import socket
import stat
import time
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import httpx

from .layout import Layout
from .health import describe_ssl_error, tls_verify

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass
class Finding:
    component: str  # services | gateway | hub | proxy | user servers | kernels | spark | network
    check: str
    status: str
    detail: str
    fix: str = ""
    log: str = ""

    def line(self) -> str:
        mark = {OK: "[✓]", WARN: "[!]", FAIL: "[✗]"}[self.status]
        text = f"{mark} {self.component}: {self.check}: {self.detail}"
        if self.status != OK and self.fix:
            text += f"\n      fix: {self.fix}"
        if self.status != OK and self.log:
            text += f"\n      log: {self.log}"
        return text


# ------------------------------------------------------------------ processes and sockets


def _cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except OSError:
        return []


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return {}
    return dict(kv.split("=", 1) for kv in raw.split("\0") if "=" in kv)


def _uid(pid: int) -> int | None:
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def _ppid(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _uptime(pid: int) -> float | None:
    try:
        start_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = float(Path("/proc/uptime").read_text().split()[0])
        return boot - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def _listening() -> dict[int, list[int]]:
    """port -> socket inodes in LISTEN state (tcp and tcp6)."""
    out: dict[int, list[int]] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) > 9 and f[3] == "0A":
                out.setdefault(int(f[1].rsplit(":", 1)[1], 16), []).append(int(f[9]))
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


class Machine:
    """One snapshot of the processes and listening ports, shared by the checks."""

    def __init__(self) -> None:
        self.listening = _listening()
        self.owners = _socket_owners()

    def port_owner(self, port: int) -> int | None:
        for inode in self.listening.get(port, []):
            if inode in self.owners:
                return self.owners[inode]
        return None

    def ports_of(self, pid: int) -> list[int]:
        inodes = {i for i, p in self.owners.items() if p == pid}
        return sorted(port for port, ins in self.listening.items() if inodes & set(ins))

    @staticmethod
    def find(pattern: str) -> list[int]:
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit() and any(pattern in a for a in _cmdline(int(d.name))[:2]):
                pids.append(int(d.name))
        return pids


def _service_pid(L: Layout, name: str) -> int | None:
    from .services import manager

    return manager(L.a.services.manager, L.services_dir).pid(name)


_ERROR = re.compile(r"Error|Exception|error:|\bERROR\b|CRITICAL|FATAL|Errno|[Ff]ailed|[Cc]annot|[Uu]nable")
_SUPERVISOR = re.compile(r" systemd\[1\]: |^--- .*supervisor: ")  # our supervisors' own lines, not the service's


def cause_lines(text: str, n: int = 3) -> list[str]:
    """The service's own last error lines (else its last lines), not its supervisor's restart notices."""
    own = [line.strip() for line in text.splitlines() if line.strip() and not _SUPERVISOR.search(line)]
    errors = [line for line in own if _ERROR.search(line)]
    return (errors or own)[-n:]


def _describe(pid: int | None) -> str:
    if not pid:
        return "unknown process"
    cmd = " ".join(_cmdline(pid))[:120]
    return f"pid {pid} ({cmd})"


def _launcher_problems(path: str) -> list[str]:
    """root runs the impersonation launcher: only root may be able to change it."""
    try:
        st = os.stat(path)
    except OSError:
        return [f"its launcher {path} is missing"]
    if st.st_uid != 0 or st.st_mode & 0o022:
        return [f"its launcher {path} (run by root) is writable by others (owner uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o})"]
    return []


# ------------------------------------------------------------------ the checks


class Doctor:
    def __init__(self, layout: Layout, timeout: float = 3.0):
        self.L = layout
        self.a = layout.a
        self.timeout = timeout
        self.m = Machine()
        self._token: str | None = None
        # one client for every probe: building one per request costs an SSL context each time
        self.http = httpx.Client(timeout=timeout, verify=tls_verify(layout.hub_verify))
        # the gateway under TLS: verified against its own CA, as the user servers do
        self.gw_http = httpx.Client(timeout=timeout, verify=tls_verify(layout.gateway_verify)) if layout.gateway_tls else self.http

    # -- helpers
    def token(self) -> str | None:
        if self._token is None:
            try:
                self._token = self.L.gateway_token_file.read_text().strip()
            except OSError:
                self._token = ""
        return self._token or None

    def _get(self, url: str, **kw) -> httpx.Response:
        return (self.gw_http if url.startswith(self.L.gateway_url) else self.http).get(url, **kw)

    def text(self, path: Path) -> str:
        try:
            return path.read_text()
        except OSError:
            return ""

    def mgr(self):
        from .services import manager

        return manager(self.a.services.manager, self.L.services_dir)

    def log(self, name: str) -> str:
        """Where to read a service's output: `journalctl -u jeg-NAME` under systemd, else its file."""
        from .services import log_ref

        return log_ref(self.mgr().kind, name, str(self.L.service_log(name)))

    # -- services
    def crash_loop(self, name: str, pid: int | None) -> Finding | None:
        """Restarted by its supervisor (systemd or ours) and not up for long: name it, with the log's last lines."""
        from .services import read_log

        restarts = self.mgr().restarts(name)
        up = _uptime(pid) if pid else None
        # one restart after a crash or a kill is recovery; a loop restarts again and again
        if restarts < 2 or (up is not None and up > 60):
            return None
        log = self.log(name)
        state = f"up {_human(up)}" if up is not None else "down between restarts"
        return Finding("services", name, FAIL,
                       f"crash loop: restarted {restarts} times, {state}; cause in the log: " + " | ".join(
                           cause_lines(read_log(log, 120)))[-600:],
                       f"fix the cause in the log ({log}), then: jeg-wizard services restart {name}", log)

    def service(self, name: str, key: str, ip: str, port: int) -> list[Finding]:
        log = self.log(name)
        pid = _service_pid(self.L, name)
        looping = self.crash_loop(name, pid)
        if looping:
            return [looping]
        owner = self.m.port_owner(port)
        if not pid:
            if owner:
                return [Finding("services", name, FAIL, f"not running, and port {port} ({key}) is held by {_describe(owner)}",
                                f"stop that process, then: jeg-wizard services start {name}", log)]
            return [Finding("services", name, FAIL, "not running", f"jeg-wizard services start {name}", log)]
        up = _uptime(pid)
        ports = self.m.ports_of(pid)
        family = {pid} | {p for p in (owner,) if p and _ppid(p) == pid}
        if owner and owner not in family:
            return [Finding("services", name, FAIL,
                            f"running (pid {pid}) but port {port} ({key}) is held by another program: {_describe(owner)}",
                            f"stop that process and run: jeg-wizard services restart {name}", log)]
        if name == "gateway" and port not in ports:
            where = f"it listens on {', '.join(map(str, ports))}" if ports else "it listens on no port"
            return [Finding("services", name, FAIL, f"running (pid {pid}) but not on port {port} ({key}): {where}",
                            f"set port_retries = 0 in the gateway config and run: jeg-wizard services restart {name}", log)]
        if name == "gateway" and self.a.gateway.impersonation and _uid(pid) != 0:
            return [Finding("services", name, FAIL, f"runs as uid {_uid(pid)} (pid {pid}) with gateway.impersonation on: "
                            "kernels cannot switch to the hub user and fail to start",
                            "re-run the install (impersonation runs the gateway as root)", log)]
        if name == "gateway" and _uid(pid) == 0 and not self.a.gateway.impersonation:
            return [Finding("services", name, WARN, f"running as root (pid {pid}): every kernel, so every hub user, runs code as root",
                            "set gateway.user to an unprivileged account (default jeg-gateway) and re-run the install", log)]
        return [Finding("services", name, OK, f"running, pid {pid}, up {_human(up)}, port {port}")]

    def services(self) -> list[Finding]:
        out = self.service("gateway", "gateway.port", self.a.gateway.ip, self.a.gateway.port)
        out += self.service("hub", "hub.hub_port", self.a.hub.hub_ip, self.a.hub.hub_port)
        return out

    # -- gateway
    def gateway(self) -> list[Finding]:
        L, log = self.L, self.log("gateway")
        url = L.gateway_url
        out = []
        token = self.token()
        try:
            anon = self._get(f"{url}/api/kernelspecs")
        except httpx.HTTPError as e:
            why = describe_ssl_error(e)
            if why.startswith("TLS"):
                return [Finding("gateway", "TLS", FAIL, f"{url}: {why}",
                                f"the gateway's certificate must be signed by the CA in {L.gateway_ca_file} and name "
                                f"the gateway's host; re-run the install to put matching files in {L.tls_dir}", log)]
            return [Finding("gateway", "answers", FAIL, f"{url} does not answer ({type(e).__name__})",
                            "jeg-wizard services restart gateway", log)]
        if anon.status_code == 200:
            out.append(Finding("gateway", "token required", FAIL, "answers /api/kernelspecs without a token: anyone who reaches it runs code",
                               "set EnterpriseGatewayApp.auth_token (re-run the install) and restart the gateway", log))
        else:
            out.append(Finding("gateway", "token required", OK, f"HTTP {anon.status_code} without the token"))
        out.append(self.gateway_transport())
        if not token:
            out.append(Finding("gateway", "token", FAIL, f"no token in {L.gateway_token_file}", "re-run the install (it generates one)"))
            return out
        auth = {"Authorization": f"token {token}"}
        r = self._get(f"{url}/api", headers=auth)
        if r.status_code in (401, 403):
            out.append(Finding("gateway", "token accepted", FAIL,
                               f"the gateway refuses the token in {L.gateway_token_file} (HTTP {r.status_code}): the running gateway uses another token",
                               "jeg-wizard services restart gateway (it reads the token file at start)", log))
            return out
        body = r.json() if r.status_code == 200 else {}
        out.append(Finding("gateway", "version", OK, f"JEG {body.get('gateway_version', '?')} (jupyter_server {body.get('version', '?')})"))
        specs = self._get(f"{url}/api/kernelspecs", headers=auth)
        names = sorted(specs.json().get("kernelspecs", {})) if specs.status_code == 200 else []
        if self.a.kernels.name in names:
            out.append(Finding("gateway", "kernelspecs", OK, ", ".join(names)))
        else:
            out.append(Finding("gateway", "kernelspecs", FAIL, f"'{self.a.kernels.name}' is not listed (lists: {', '.join(names) or 'nothing'})",
                               f"check {L.kernel_dir} and JUPYTER_PATH of the gateway; jeg-wizard services restart gateway", log))
        k = self._get(f"{url}/api/kernels", headers=auth)
        if k.status_code == 403:
            out.append(Finding("gateway", "kernel listing", FAIL, "GET /api/kernels answers 403: JupyterLab's polling fails and Lab misbehaves",
                               "set gateway.list_kernels = true (EnterpriseGatewayApp.list_kernels = True) and restart the gateway", log))
        else:
            out.append(Finding("gateway", "kernel listing", OK, f"{len(k.json()) if k.status_code == 200 else '?'} kernels running"))
        cfg = self.text(L.gateway_config)
        if self.a.gateway.impersonation:
            out.append(self._impersonation(cfg))
        m = re.search(r"unauthorized_users\s*=\s*set\((\[.*?\])\)", cfg)
        refused = set(json.loads(m.group(1))) if m else {"root"}
        if self.a.users.admin in refused:
            out.append(Finding("gateway", "users", FAIL, f"the gateway refuses kernels for the hub admin '{self.a.users.admin}' (unauthorized_users)",
                               f"remove {self.a.users.admin} from gateway.unauthorized_users and re-run the install"))
        from .preflight import group_members

        group = group_members(self.a.gateway.unauthorized_groups).get(self.a.users.admin)
        if group:
            out.append(Finding("gateway", "users", FAIL, f"the hub admin '{self.a.users.admin}' is a member of {group}: the gateway "
                               "refuses kernels for members of gateway.unauthorized_groups",
                               f"remove {self.a.users.admin} from {group}, or {group} from gateway.unauthorized_groups"))
        return out

    def gateway_transport(self) -> Finding:
        """HTTPS with days left on the certificate; plain HTTP is fine on loopback only."""
        import datetime as dt
        import ipaddress

        L = self.L
        if not L.gateway_tls:
            ip = ipaddress.ip_address(self.a.gateway.ip)
            if ip.is_loopback:
                return Finding("gateway", "transport", OK, f"plain HTTP on loopback ({self.a.gateway.ip})")
            return Finding("gateway", "transport", WARN,
                           f"plain HTTP on {self.a.gateway.ip}: the token and all code cross the network in clear",
                           "set gateway.tls = \"generate\" (or \"files\") and re-run the install")
        try:
            from cryptography import x509

            cert = x509.load_pem_x509_certificate(L.gateway_cert_file.read_bytes())
        except (OSError, ValueError) as e:
            return Finding("gateway", "transport", FAIL, f"HTTPS, but its certificate {L.gateway_cert_file} cannot be read: {e}",
                           "re-run the install")
        left = (cert.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)).days
        if left < 30:
            return Finding("gateway", "transport", WARN, f"HTTPS; the gateway certificate expires in {left} days",
                           "re-run the install: it renews a generated certificate 30 days before it expires")
        return Finding("gateway", "transport", OK, f"HTTPS verified against {L.gateway_ca_file}; certificate good for {left} days")

    def _impersonation(self, cfg: str) -> Finding:
        """A note, not a failure: impersonation works as designed, and the operator should know what it trusts."""
        m = re.search(r"^c\.EnterpriseGatewayApp\.authorized_users\s*=\s*set\((\[.*?\])\)", cfg, re.M)
        if not re.search(r"^c\.EnterpriseGatewayApp\.impersonation_enabled\s*=\s*True", cfg, re.M):
            return Finding("gateway", "impersonation", FAIL, f"gateway.impersonation is on but {self.L.gateway_config} does not enable it",
                           "re-run the install", self.log("gateway"))
        who = ", ".join(json.loads(m.group(1))) if m else "any non-system account"
        return Finding("gateway", "impersonation", WARN,
                       f"kernels run as the hub user named in KERNEL_USERNAME; the gateway trusts that name from every holder "
                       f"of its token, and every user server holds it: a hub user who reads it can start kernels as {who}",
                       "accept this trust, or set gateway.impersonation = false (kernels then run as gateway.user)")

    # -- hub and proxy
    def hub(self) -> list[Finding]:
        from .preflight import hostname_problems

        L, log = self.L, self.log("hub")
        out = [Finding("hub", "host name", FAIL, p, "fix the name resolution, then: jeg-wizard services restart hub", log)
               for p in hostname_problems(self.a)]
        try:
            r = self._get(f"{L.hub_url}/hub/api")
            if r.status_code == 200:
                out.append(Finding("hub", "public URL", OK, f"JupyterHub {r.json().get('version', '?')} at {L.hub_url}"))
            else:
                out.append(Finding("hub", "public URL", FAIL, f"{L.hub_url}/hub/api answers HTTP {r.status_code} (proxy up, hub route missing?)",
                                   "jeg-wizard services restart hub", log))
        except httpx.HTTPError as e:
            out.append(Finding("hub", "public URL", FAIL, f"{L.hub_url} does not answer ({type(e).__name__})", "jeg-wizard services restart hub", log))
        try:
            r = self._get(L.hub_api_url.rsplit("/api", 1)[0] + "/health")
            out.append(Finding("hub", "API for user servers", OK if r.status_code == 200 else FAIL,
                               f"{L.hub_api_url} {'answers' if r.status_code == 200 else f'answers HTTP {r.status_code}'}",
                               "user servers cannot report to the hub: check hub.hub_ip/hub_port", log))
        except httpx.HTTPError:
            out.append(Finding("hub", "API for user servers", FAIL, f"{L.hub_api_url} is unreachable: user servers cannot reach the hub",
                               "hub.hub_ip must be an address of this host that the user servers reach; jeg-wizard services restart hub", log))
        pid = _service_pid(L, "hub")
        if pid and _uid(pid) != 0:
            out.append(Finding("hub", "PAM login", FAIL, f"the hub runs as uid {_uid(pid)}: PAM login and spawning as users need root",
                               "run the hub as root (jeg-wizard services restart hub)", log))
        try:
            pwd.getpwnam(self.a.users.admin)
            out.append(Finding("hub", "admin user", OK, f"{self.a.users.admin} exists"))
        except KeyError:
            out.append(Finding("hub", "admin user", FAIL, f"user {self.a.users.admin} does not exist: PAM login is impossible",
                               "re-run the install (admin_user step) or adduser " + self.a.users.admin))
        cfg = self.text(L.hub_config)
        if cfg and not re.search(r"^\s*c\.(Authenticator|PAMAuthenticator)\.(allowed_users|allow_all|allowed_groups|allow_existing_users)\s*=", cfg, re.M):
            out.append(Finding("hub", "who may log in", FAIL, "no allowed_users / allowed_groups / allow_all: JupyterHub >= 5 lets only admins log in",
                               "set users.allowed (or keep the admin in c.Authenticator.allowed_users) and re-run the install"))
        secret = L.cookie_secret_file
        try:
            mode = stat.S_IMODE(secret.stat().st_mode)
            if mode & 0o077:
                out.append(Finding("hub", "cookie secret", FAIL, f"{secret} has mode {mode:o}: others can forge login cookies",
                                   f"chmod 600 {secret}"))
            else:
                out.append(Finding("hub", "cookie secret", OK, f"mode {mode:o}"))
        except OSError:
            out.append(Finding("hub", "cookie secret", WARN, f"{secret} is missing (the hub makes a new one: everyone is logged out)", "re-run the install"))
        return out

    def proxy(self) -> list[Finding]:
        L, log = self.L, self.log("hub")
        try:
            token = L.proxy_token_file.read_text().strip()
        except OSError:
            token = ""
        try:
            r = self._get(L.proxy_api_url, headers={"Authorization": f"token {token}"})
        except httpx.HTTPError:
            return [Finding("proxy", "API", FAIL, f"{L.proxy_api_url} does not answer: the proxy is down",
                            "jeg-wizard services restart hub (the hub starts the proxy)", log)]
        owner = self.m.port_owner(self.a.proxy.api_port)
        hub_pid = _service_pid(L, "hub")
        orphan = owner and hub_pid and _ppid(owner) != hub_pid
        if r.status_code in (401, 403):
            why = f" and it is not the hub's child: an orphaned proxy ({_describe(owner)})" if orphan else ""
            return [Finding("proxy", "API", FAIL, f"the proxy refuses the hub's token (HTTP {r.status_code}){why}",
                            f"kill {owner} and run: jeg-wizard services restart hub" if owner else "jeg-wizard services restart hub", log)]
        routes = r.json() if r.status_code == 200 else {}
        out = [Finding("proxy", "API", OK, f"{len(routes)} routes: {', '.join(sorted(routes))[:100]}")]
        if orphan:
            out.append(Finding("proxy", "owner", WARN, f"the proxy is not the running hub's child: {_describe(owner)}",
                               f"kill {owner} and run: jeg-wizard services restart hub", log))
        return out

    # -- what reaches the user servers
    def user_servers(self) -> list[Finding]:
        """What the hub config hands to the next user server, and what the running ones really have."""
        L = self.L
        cfg = self.text(L.hub_config)
        env = {}
        for key in ("JUPYTER_GATEWAY_URL", "JUPYTER_GATEWAY_AUTH_TOKEN", "KERNEL_USERNAME",
                    "JUPYTER_GATEWAY_REQUEST_TIMEOUT", "KERNEL_LAUNCH_TIMEOUT"):
            m = re.search(rf'^\s*"{key}"\s*:\s*("([^"]*)"|[^,\n]+)', cfg, re.M)
            if m:
                env[key] = m.group(2) if m.group(2) is not None else "(computed)"
        out = self._gateway_env(env, "the hub config", from_config=True)
        for pid in Machine.find(str(L.hub_venv / "bin" / "jupyterhub-singleuser"))[:5]:
            uid = _uid(pid)
            try:
                who = pwd.getpwuid(uid).pw_name if uid is not None else "?"
            except KeyError:
                who = str(uid)
            out += self._gateway_env(_environ(pid), f"{who}'s running server (pid {pid})")
        return out

    def _gateway_env(self, env: dict, where: str, from_config: bool = False) -> list[Finding]:
        L, out = self.L, []
        url = env.get("JUPYTER_GATEWAY_URL") or env.get("KG_URL")
        if not url:
            return [Finding("user servers", "gateway settings", FAIL,
                            f"{where} has no JUPYTER_GATEWAY_URL: kernels run locally, not on the gateway",
                            "pass the gateway settings through c.Spawner.environment (/etc/environment does not reach spawned servers); re-run the install")]
        if url.rstrip("/") != L.gateway_url:
            out.append(Finding("user servers", "gateway URL", FAIL, f"{where} uses {url}, the gateway is at {L.gateway_url}",
                               "re-run the install (hub_config step) and restart the hub"))
        if not from_config:
            tok = env.get("JUPYTER_GATEWAY_AUTH_TOKEN", "")
            if not tok:
                out.append(Finding("user servers", "gateway token", FAIL, f"{where} sends no gateway token: the gateway answers 401",
                                   "re-run the install (hub_config step); restart the hub and the user's server"))
            elif tok != (self.token() or ""):
                out.append(Finding("user servers", "gateway token", FAIL, f"{where} sends a token other than {L.gateway_token_file}: the gateway answers 401",
                                   "restart the user's server from the hub's control panel (it takes the current token)"))
        if "KERNEL_USERNAME" not in env:
            out.append(Finding("user servers", "kernel user", FAIL,
                               f"{where} does not send KERNEL_USERNAME: the gateway takes its own user (root) and refuses the kernel (403)",
                               "add KERNEL_USERNAME to c.Spawner.environment (re-run the install) and restart the hub"))
        try:
            req = float(env.get("JUPYTER_GATEWAY_REQUEST_TIMEOUT", "42"))
            launch = float(env.get("KERNEL_LAUNCH_TIMEOUT", "40"))
            if req <= launch:
                out.append(Finding("user servers", "timeouts", FAIL,
                                   f"request timeout {req:g}s is not above the kernel launch timeout {launch:g}s: Spark kernels time out while starting",
                                   "set gateway.request_timeout above gateway.kernel_launch_timeout and re-run the install"))
        except ValueError:
            pass
        if not out:
            out.append(Finding("user servers", "gateway settings", OK, f"{where}: gateway URL, token, KERNEL_USERNAME and timeouts in place"))
        return out

    # -- kernelspecs on disk
    def kernels(self) -> list[Finding]:
        out = []
        root = Path(self.a.kernels.dir)
        specs = sorted(root.glob("*/kernel.json"))
        if not specs:
            return [Finding("kernels", "kernelspecs", FAIL, f"no kernelspec in {root}", "re-run the install (kernelspecs step)")]
        for spec in specs:
            name = spec.parent.name
            try:
                k = json.loads(spec.read_text())
            except (OSError, ValueError) as e:
                out.append(Finding("kernels", name, FAIL, f"{spec} does not load: {e}", "re-run the install (kernelspecs step)"))
                continue
            problems = []
            prog = (k.get("argv") or [""])[0]
            if not os.path.exists(prog):
                problems.append(f"its program {prog} is missing")
            elif not os.access(prog, os.X_OK):
                problems.append(f"its program {prog} is not executable (chmod +x {prog})")
            for arg in (k.get("argv") or [])[1:]:
                if arg.endswith("/launch_as_user.py"):
                    problems += _launcher_problems(arg)
            env = k.get("env", {})
            for key, sub in (("SPARK_HOME", "bin/spark-submit"), ("JAVA_HOME", "bin/java")):
                if key in env and not os.path.exists(os.path.join(env[key], sub)):
                    problems.append(f"{key}={env[key]} has no {sub}")
            for key in ("PYSPARK_PYTHON", "PYTHONSTARTUP"):
                if key in env and not os.path.exists(env[key]):
                    problems.append(f"{key}={env[key]} does not exist")
            for entry in filter(None, env.get("PYTHONPATH", "").split(":")):
                if not os.path.exists(entry):
                    problems.append(f"PYTHONPATH entry {entry} does not exist")
            if problems:
                out.append(Finding("kernels", name, FAIL, "; ".join(problems),
                                   f"fix {spec} (or re-run the install); a kernel with a broken JAVA_HOME starts but has no `spark`"))
            else:
                out.append(Finding("kernels", name, OK, f"{k.get('display_name', name)}: program, SPARK_HOME, JAVA_HOME, python paths exist"))
        return out

    # -- Spark standalone cluster
    def spark(self) -> list[Finding]:
        master = self.a.spark.master
        if not master.startswith("spark://"):
            return []
        host = master[len("spark://"):].rsplit(":", 1)[0]
        url = f"http://{host}:{self.a.spark.master_webui_port}/json/"
        log = self.log("spark-master")
        try:
            info = self._get(url).json()
        except (httpx.HTTPError, ValueError):
            return [Finding("spark", "master", FAIL, f"{master} is unreachable ({url} does not answer)",
                            "jeg-wizard services restart spark-master spark-worker", log)]
        alive = [w for w in info.get("workers", []) if w.get("state") == "ALIVE"]
        if not alive:
            return [Finding("spark", "workers", FAIL, f"{master} has no live worker: jobs wait forever ('Initial job has not accepted any resources')",
                            "jeg-wizard services restart spark-worker", self.log("spark-worker"))]
        return [Finding("spark", "master", OK, f"{master}: {len(alive)} worker(s), {info.get('cores', '?')} cores")]

    # -- network
    def network(self) -> list[Finding]:
        out = []
        a = self.a
        for key, ip in (("gateway.ip", a.gateway.ip), ("hub.ip", a.hub.ip), ("hub.hub_ip", a.hub.hub_ip)):
            if ip in ("0.0.0.0", "::"):
                continue
            fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
            with socket.socket(fam) as s:
                try:
                    s.bind((ip, 0))
                except OSError:
                    out.append(Finding("network", key, FAIL, f"{ip} is not an address of any interface here: nothing can listen on it",
                                       f"set {key} to an address of this host (ip -br addr)"))
        env = {}
        pid = _service_pid(self.L, "hub")
        if pid:
            env = _environ(pid)
        env_file = self.text(Path(a.environment.file))
        proxy = env.get("http_proxy") or env.get("HTTP_PROXY") or re.search(r"^\s*(http_proxy|HTTP_PROXY)=", env_file, re.M)
        if proxy:
            no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
            m = re.search(r"^\s*(no_proxy|NO_PROXY)=\"?([^\"\n]*)", env_file, re.M)
            no_proxy += "," + (m.group(2) if m else "")
            hosts = {a.gateway.ip, a.hub.hub_ip, "127.0.0.1", "localhost"}
            missing = sorted(h for h in hosts if h not in no_proxy and h not in ("0.0.0.0",))
            if missing:
                out.append(Finding("network", "proxy variables", WARN,
                                   f"http_proxy is set but NO_PROXY lacks {', '.join(missing)}: hub and gateway calls may go through the web proxy",
                                   f"add NO_PROXY={','.join(missing)} next to http_proxy (in {a.environment.file} and the services' environment)"))
        if not out:
            out.append(Finding("network", "addresses", OK, "configured addresses exist; no web proxy in the way"))
        return out

    # -- all of it
    def run(self, deadline: float | None = None) -> list[Finding]:
        checks: list[tuple[str, Callable[[], list[Finding]]]] = [
            ("services", self.services), ("gateway", self.gateway), ("hub", self.hub), ("proxy", self.proxy),
            ("user servers", self.user_servers), ("kernels", self.kernels), ("spark", self.spark), ("network", self.network),
        ]
        budget = deadline if deadline is not None else self.timeout + 0.2
        results: dict[str, list[Finding]] = {}

        def probe(name: str, fn: Callable[[], list[Finding]]) -> None:
            try:
                results[name] = fn()
            except Exception as e:  # noqa: BLE001 - a broken probe is a finding, not a crash
                results[name] = [Finding(name, "probe", FAIL, f"{type(e).__name__}: {e}")]

        # daemon threads: a probe stuck past the budget must not keep the process alive at exit
        threads = [threading.Thread(target=probe, args=c, daemon=True) for c in checks]
        for t in threads:
            t.start()
        end = time.monotonic() + budget
        for t in threads:
            t.join(max(0.0, end - time.monotonic()))
        out: list[Finding] = []
        for name, _ in checks:
            out += results[name] if name in results else [
                Finding(name, "probe", FAIL, f"no answer within {budget:.1f}s (a hung endpoint?)")]
        return out


def overall(findings: list[Finding]) -> tuple[str, int]:
    """healthy 0, degraded 1, down 2 (gateway or hub not running or not answering)."""
    down = any(f.status == FAIL and (f.component == "services" or f.check in ("answers", "public URL"))
               for f in findings)
    if down:
        return "down", 2
    if any(f.status != OK for f in findings):
        return "degraded", 1
    return "healthy", 0


def as_json(findings: list[Finding]) -> str:
    state, _ = overall(findings)
    return json.dumps({"state": state, "checks": [asdict(f) for f in findings]}, indent=1)


def _human(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
