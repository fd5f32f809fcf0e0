"""The gate: every check made before anything changes (root, ports free or held by our own services,
the admin not a sudoer the gateway refuses, the machine's programs and addresses, TLS files, config
files that are not ours). The CLI runs it before `install`; the TUI before Start, on the Plan screen."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from . import distro
from .layout import Layout
from .releases import NB2KG_PYTHONS
from .services import manager

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .answers import Answers


def port_in_use(ip: str, port: int) -> bool:
    host = "127.0.0.1" if ip in ("0.0.0.0", "") else ("::1" if ip == "::" else ip)
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def gate(a: Answers, steps, *, need_root: bool = True, role: str = "all", bundle=None) -> list[str]:
    """Everything that must hold before the chosen steps change anything; [] means go."""
    return problems(a, need_root=need_root, role=role, bundle=bundle) + foreign_files(a, steps, role)


def problems(a: Answers, *, need_root: bool = True, role: str = "all", bundle=None) -> list[str]:
    """The checks that depend on the answers and the machine only (not on which steps run); on a site
    of several hosts, those of this host's part (role)."""
    out = []
    if need_root and os.geteuid() != 0:
        out.append("run as root (sudo): the install adds packages, a PAM user and services")
    installer = os.environ.get("JEG_WIZARD_INSTALLER", "")
    if installer not in ("", "uv", "pip"):
        out.append(f"JEG_WIZARD_INSTALLER: {installer[:40]!r} is no installer; allowed: uv (the default) or pip")
    L = Layout(a, role)
    mgr = manager(a.services.manager, L.services_dir)
    for service, ports in L.ports.items():
        if mgr.pid(service):
            continue  # our own running service holds them; the install restarts it when needed
        for key, ip, port in ports:
            if port_in_use(ip, port):
                out.append(
                    f"{key}: port {port} on {ip} is already in use by another program; stop it or choose another port"
                )
    if L.runs("gateway"):
        out += _admin_not_refused(a)
    if L.runs("hub"):
        out += hostname_problems(a)
    out += interface_problems()
    if L.runs("hub"):
        out += node_problems()
        out += _signin(a, L)
    out += python_problems(a, offline=bundle is not None)
    if bundle is not None:  # install --bundle: it must carry what these answers take on this machine
        from .bundle import problems as missing_from
        from .bundling import wants

        out += missing_from(bundle.wants, wants(a))
    if L.runs("gateway"):
        out += _given_tls_files(a)
    out += _hub_tls_key(a)
    out += _machine(a, role)
    return out


def foreign_files(a: Answers, steps, role: str = "all") -> list[str]:
    """Config files the chosen steps would replace that exist and are not ours."""
    from .actions import FileContent
    from .engine import Journal, make_context

    if a.system.replace_existing_files:
        return []
    ctx = make_context(a, dry_run=True, role=role)
    ctx.journal = Journal(Layout(a).state_dir / "journal.jsonl")  # read only: foreign() looks up our writes
    out = []
    for step in steps:
        try:
            actions = step.build(ctx)
        except Exception:  # noqa: BLE001 - the step reports it when it runs
            continue
        for action in actions:
            if isinstance(action, FileContent):
                try:
                    why = action.foreign(ctx)
                except Exception:  # noqa: BLE001 - e.g. a template needing a later step: checked again when written
                    why = None
                if why:
                    out.append(why)
    return out


def _signin(a: Answers, L: Layout) -> list[str]:
    """hub.authenticator = ldap | oidc, tried live: the hub keeps its sign-in until the new one works."""
    if a.hub.authenticator == "pam":
        return []
    from . import signin

    return signin.problems(a, L)


def _machine(a: Answers, role: str = "all") -> list[str]:
    """Answers that cannot work on this machine (addresses, programs, accounts, symlinked system dirs)."""
    from . import machine

    return machine.problems(a, role)


def _hub_tls_key(a: Answers) -> list[str]:
    from .secrets import SecretError, read_private_file

    try:
        if a.hub.tls_key:
            read_private_file(Path(a.hub.tls_key), "hub.tls_key")
    except (SecretError, OSError) as e:
        return [str(e)]
    return []


def _given_tls_files(a: Answers) -> list[str]:
    """gateway.tls = "files": a private key only we can read, and a certificate that CA signed for our host."""
    if a.gateway.tls != "files":
        return []
    from urllib.parse import urlsplit

    from . import tls
    from .secrets import SecretError, read_private_file

    g = a.gateway
    try:
        read_private_file(Path(g.tls_key), "gateway.tls_key")
        tls.check_gateway_files(
            Path(g.tls_cert), Path(g.tls_key), Path(g.tls_ca), urlsplit(Layout(a).gateway_url).hostname
        )
    except (SecretError, tls.TLSError, OSError) as e:
        return [f"gateway.tls_cert: {e}" if isinstance(e, tls.TLSError) else str(e)]
    return []


def group_members(groups: list[str]) -> dict[str, str]:
    """user -> the first of groups it belongs to (as a supplementary or its primary group)."""
    import grp
    import pwd

    out: dict[str, str] = {}
    for name in groups:
        try:
            g = grp.getgrnam(name)
        except KeyError:
            continue
        for u in [*g.gr_mem, *(p.pw_name for p in pwd.getpwall() if p.pw_gid == g.gr_gid)]:
            out.setdefault(u, name)
    return out


def _admin_not_refused(a: Answers) -> list[str]:
    """The gateway refuses kernels for members of gateway.unauthorized_groups; the admin must not be one."""
    group = group_members(a.gateway.unauthorized_groups).get(a.users.admin)
    if not group:
        return []
    return [
        f"users.admin: '{a.users.admin}' is a member of {group}, and the gateway refuses kernels for members of "
        f"gateway.unauthorized_groups ({', '.join(a.gateway.unauthorized_groups)}) because such a kernel could "
        f"become root; choose a hub admin who is not a sudoer, or remove '{group}' from gateway.unauthorized_groups"
    ]


WILDCARDS = ("", "0.0.0.0", "::")


def hostname_problems(a: Answers) -> list[str]:
    """JupyterHub reaches its own wildcard-bound servers at this host's name: it must resolve to
    an address here, or the hub exits 10 s after every start."""
    key = next((k for k, ip in (("hub.ip", a.hub.ip), ("hub.hub_ip", a.hub.hub_ip)) if ip in WILDCARDS), None)
    if key is None:
        return []
    name = socket.gethostname()
    fix = (
        f"add a line '127.0.1.1 {name}' to /etc/hosts (as Debian's and Ubuntu's installers do), "
        f"or set {key} to one of this host's addresses"
    )
    try:
        addrs = sorted({ai[4][0] for ai in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)})
    except (socket.gaierror, UnicodeError):
        return [
            f"{key}: '{getattr(a.hub, key.split('.')[1])}' means JupyterHub connects to this host by its name "
            f"'{name}', which does not resolve; {fix}"
        ]
    from .machine import address_here

    if any(address_here(addr) for addr in addrs):
        return []
    return [f"{key}: this host's name '{name}' resolves to {', '.join(addrs)}, which is on no interface here; {fix}"]


def interface_problems() -> list[str]:
    """JEG 3.3.0 picks this host's 'public' IPv4 address when it is imported: with only loopback it
    exits at every start (IndexError in processproxy._get_local_ip), whatever gateway.ip says."""
    from .layout import interface_addresses

    if interface_addresses():
        return []
    return [
        "this host has no IPv4 address but loopback: Jupyter Enterprise Gateway 3.3.0 exits at start without "
        "one (it picks its own address from the interfaces); give an interface an address (an offline server "
        "keeps its LAN address; a box with no network at all: `ip link add jeg0 type dummy && ip addr add "
        "10.255.255.1/32 dev jeg0 && ip link set jeg0 up`)"
    ]


# The Pythons the gateway venv's recipe (steps/gateway.py) was proven on, from install to a kernel
# started through the gateway running code: 3.10 (Ubuntu 22.04), 3.11 (Debian 12), 3.12 (Ubuntu 24.04),
# 3.13 (Debian 13). JEG 3.3.0 itself requires >= 3.10.
GATEWAY_PYTHONS = ((3, 10), (3, 13))


def python_problems(a: Answers, offline: bool = False) -> list[str]:
    """system.python builds every venv: one the gateway cannot run on is refused before anything changes."""
    import subprocess

    py = a.system.python
    if not os.access(py, os.X_OK):
        return []  # the machine checks name a missing interpreter
    lo, hi = (".".join(map(str, v)) for v in GATEWAY_PYTHONS)
    supported = f"the gateway (Jupyter Enterprise Gateway 3.3.0) is supported on Python {lo} to {hi}"
    try:
        r = subprocess.run(
            [py, "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return [f"system.python: {py} cannot be run ({getattr(e, 'strerror', None) or e}); {supported}"]
    found = r.stdout.strip()
    try:
        version = tuple(int(x) for x in found.split("."))
    except ValueError:
        version = ()
    if r.returncode != 0 or len(version) != 3:
        return [f"system.python: {py} did not report its version (exit {r.returncode}); {supported}"]
    if not GATEWAY_PYTHONS[0] <= version[:2] <= GATEWAY_PYTHONS[1]:
        return [
            f"system.python: {py} is Python {found}; {supported}: set system.python to such an "
            f"interpreter (with its venv module), e.g. /usr/bin/python3.{GATEWAY_PYTHONS[1][1]}"
        ]
    if a.hub.gateway_client == "nb2kg" and not NB2KG_PYTHONS[0] <= version[:2] <= NB2KG_PYTHONS[1]:
        lo, hi = (".".join(map(str, v)) for v in NB2KG_PYTHONS)
        return [
            f"hub.gateway_client: 'nb2kg' needs the classic Notebook 5.7, which runs on Python {lo} to {hi} (it "
            f"imports distutils, gone in 3.12); system.python ({py}) is Python {found}: choose "
            f'hub.gateway_client = "builtin" (jupyter_server\'s gateway client, the successor of nb2kg) or set '
            f"system.python to a Python {lo} to {hi}"
        ]
    need = distro.spark_python_min(a.spark.version)
    if version[:2] < need:
        return [
            f"spark.version: Spark {a.spark.version}'s Python side needs Python {need[0]}.{need[1]} or newer, and "
            f"system.python ({py}) is Python {found}; choose spark.version = "
            f'"{distro.default_spark(version[:2])}" (or a newer Python)'
        ]
    if offline or a.spark.source != "pypi" or (Layout(a).spark_dir / "pyspark" / "bin" / "spark-submit").exists():
        return []  # installed already (steps/spark.py's sentinel): a re-run does not ask the index
    return pypi_problems(a, version[:2])


def pypi_problems(a: Answers, python: tuple[int, ...]) -> list[str]:
    """The chosen pyspark release is on the package index (the site's pip configuration: mirrors count)
    for this Python. No answer from the index (offline) is not a refusal: the spark step says more."""
    import subprocess
    import sys

    py = ".".join(map(str, python))
    try:
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "index",
                "versions",
                "pyspark",
                "--python-version",
                py,
                "--disable-pip-version-check",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    line = next((x for x in r.stdout.splitlines() if x.startswith("Available versions:")), "")
    versions = [v.strip() for v in line.partition(":")[2].split(",") if v.strip()]
    if r.returncode != 0 or not versions or a.spark.version in versions:
        return []
    return [
        f"spark.version: pyspark {a.spark.version} is not on the package index for Python {py} "
        f'(newest there: {", ".join(versions[:5])}); choose one of those, or spark.source = "apache"'
    ]


PROXY_MIN_NODE = 16  # configurable-http-proxy's dependencies use syntax (`||=`) that node 15+ parses


def node_problems() -> list[str]:
    """The node the proxy will run on: the one installed, else the distribution's nodejs package."""
    dist = distro.detect()
    node = distro.node_major() or distro.APT_NODE.get((dist.id, dist.version_id))
    if node is None or node >= PROXY_MIN_NODE:
        return []
    where = "installed here" if distro.node_major() else f"{dist.pretty}'s nodejs package"
    return [
        f"proxy.version: node {node} ({where}) cannot run configurable-http-proxy, whose dependencies need node "
        f"{PROXY_MIN_NODE} or newer; install node 18 or newer first (for example NodeSource's nodejs 20 package), "
        f"then run the install again"
    ]
