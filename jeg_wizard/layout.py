"""Every path and URL the install uses, derived once from the answers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from . import distro
from .answers_base import standalone_master

TYPE_CHECKING = False
if TYPE_CHECKING:  # the answers model (pydantic): status --json reads the validated answers without it
    from .answers import Answers

# the kernelspec directories of kernels.scala and kernels.r, beside kernels.name's
SCALA_KERNEL = "spark_scala"
R_KERNEL = "r"


@dataclass(frozen=True)
class Layout:
    a: Answers
    role: str = "all"  # this host's part of the site (jeg_wizard.roles): all, gateway, hub or worker

    def runs(self, *roles: str) -> bool:
        """This host runs one of these parts (the all-in-one host runs every part)."""
        return self.role == "all" or self.role in roles

    # -- venvs and programs
    @property
    def gateway_venv(self) -> Path:
        return Path(self.a.gateway.venv or f"{self.a.system.prefix}/jeg/gateway")

    @property
    def hub_venv(self) -> Path:
        return Path(self.a.hub.venv or f"{self.a.system.prefix}/jeg/hub")

    @property
    def nb2kg_venv(self) -> Path:
        """hub.gateway_client = "nb2kg": the classic notebook and nb2kg, apart from the hub's jupyter_server 2."""
        return Path(f"{self.a.system.prefix}/jeg/nb2kg")

    @property
    def singleuser(self) -> Path:
        """What the hub spawns for a user: the hub venv's server, or the nb2kg venv's classic one."""
        venv = self.nb2kg_venv if self.a.hub.gateway_client == "nb2kg" else self.hub_venv
        return venv / "bin" / "jupyterhub-singleuser"

    @property
    def user_page(self) -> str:
        """A page every user server serves: the classic notebook has no Lab."""
        return "/tree" if self.a.hub.gateway_client == "nb2kg" else "/lab"

    @property
    def kernel_venv(self) -> Path:
        return Path(self.a.kernels.venv or f"{self.a.system.prefix}/jeg/kernel")

    @property
    def toree_dir(self) -> Path:
        """kernels.scala: Toree's pip package (pip install --target), for the kernel's jar inside it."""
        return Path(f"{self.a.system.prefix}/jeg/toree")

    @property
    def toree_jar(self) -> Path:
        from .releases import TOREE_JAR

        return self.toree_dir / TOREE_JAR

    @property
    def kernel_jvm_archive(self) -> Path | None:
        """The kernels' driver JVM class archive (class_archive.py); None: not wanted, a java that cannot write
        one, or a Spark whose conf/ directory (not empty in Apache's tarballs) is on the driver's class path:
        a JVM neither writes nor maps an archive then. PyPI's pyspark has no conf/."""
        if not self.a.kernels.jvm_archive or self.a.java.version < 17 or self.a.spark.source != "pypi":
            return None
        return Path(f"{self.a.system.prefix}/jeg/kernel-jvm/spark-driver.jsa")

    @property
    def proxy_prefix(self) -> Path:
        return Path(self.a.proxy.prefix or f"{self.a.system.prefix}/jeg/proxy")

    @property
    def lab_overrides(self) -> Path:
        """Site-wide JupyterLab settings for the user servers (they run from the hub venv)."""
        return self.hub_venv / "share" / "jupyter" / "lab" / "settings" / "overrides.json"

    @property
    def proxy_bin(self) -> Path:
        return self.proxy_prefix / "node_modules" / ".bin" / "configurable-http-proxy"

    # -- Spark
    @property
    def spark_dir(self) -> Path:
        """The versioned directory the download/extract/pip step creates."""
        s = self.a.spark
        if s.source == "pypi":
            return Path(self.a.system.prefix) / f"spark-{s.version}-pypi"
        return Path(self.a.system.prefix) / f"spark-{s.version}-bin-hadoop{s.hadoop}"

    @property
    def spark_real_home(self) -> Path:
        # pip's pyspark package directory is a complete SPARK_HOME (bin/, jars/, python/)
        return self.spark_dir / "pyspark" if self.a.spark.source == "pypi" else self.spark_dir

    @property
    def spark_link(self) -> Path:
        return Path(self.a.spark.home or f"{self.a.system.prefix}/spark")

    @property
    def spark_home(self) -> Path:
        """What SPARK_HOME says: the symlink, so upgrades only move the link (as the README does)."""
        if self.a.spark.source == "pypi":
            return self.spark_link / "pyspark"
        return self.spark_link

    @property
    def spark_download(self) -> Path:
        return (
            Path(self.a.system.state_dir)
            / "downloads"
            / f"spark-{self.a.spark.version}-bin-hadoop{self.a.spark.hadoop}.tgz"
        )

    @property
    def spark_url(self) -> str:
        s = self.a.spark
        if s.source == "url":
            return s.url
        if s.source == "apache":
            name = f"spark-{s.version}-bin-hadoop{s.hadoop}.tgz"
            return f"https://archive.apache.org/dist/spark/spark-{s.version}/{name}"
        if s.source == "tarball":
            return Path(s.tarball).as_uri()
        return ""

    @property
    def spark_master(self) -> tuple[str, int] | None:
        """(host, port) of a standalone master (spark://HOST:PORT); None for local[*] and yarn."""
        return standalone_master(self.a.spark.master)

    @cached_property  # name lookups: once per Layout, not at every read of `ports` by the checks
    def local_spark_master(self) -> tuple[str, int] | None:
        """The standalone master when it runs on this host (the install starts it and a worker), else None."""
        hp = self.spark_master
        if hp is None or self.role in ("hub", "worker"):
            return None
        if self.role == "gateway":  # a split site's master runs on the gateway host (answers.py checks it)
            return hp
        import ipaddress
        import socket

        try:
            addrs = {ai[4][0] for ai in socket.getaddrinfo(hp[0], None)}
        except socket.gaierror:
            return None
        local = {"127.0.0.1", "::1"}
        try:
            local |= {ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None)}
        except socket.gaierror:
            pass
        return hp if any(ipaddress.ip_address(a).is_loopback or a in local for a in addrs) else None

    @property
    def spark_local_ip(self) -> str:
        """Where the local master and worker listen (SPARK_LOCAL_IP): the master's address, loopback for a name."""
        hp = self.local_spark_master
        return hp[0] if hp and hp[0][0].isdigit() else "127.0.0.1"

    @property
    def spark_master_webui(self) -> str:
        """The standalone master's web UI (its /json/ says the workers); "" without one."""
        hp = self.spark_master
        return f"http://{hp[0]}:{self.a.spark.master_webui_port}" if hp else ""

    @property
    def java_home(self) -> Path:
        return Path(self.a.java.home or distro.java_home(self.a.java.version))

    @property
    def pyspark_python(self) -> str:
        return self.a.environment.pyspark_python or str(self.kernel_venv / "bin" / "python")

    # -- configuration and state
    @property
    def config_dir(self) -> Path:
        return Path(self.a.hub.config_dir)

    @property
    def hub_users_file(self) -> Path:
        """Users added in bulk (jeg_wizard.hub_users): read by the hub config, and the gateway's when impersonating."""
        return self.config_dir / "jupyterhub_users.json"

    @property
    def hub_config(self) -> Path:
        return self.config_dir / "jupyterhub_config.py"

    @property
    def gateway_config(self) -> Path:
        return self.config_dir / "jupyter_enterprise_gateway_config.py"

    @property
    def state_dir(self) -> Path:
        return Path(self.a.system.state_dir)

    @property
    def saved_answers(self) -> Path:
        """The install's copy of its answers (no secrets in them): what `services`, status and `set` read."""
        return self.state_dir / "answers.toml"

    @property
    def secrets_dir(self) -> Path:
        return self.state_dir / "secrets"

    @property
    def gateway_token_file(self) -> Path:
        return Path(self.a.gateway.token_file or self.secrets_dir / "gateway-token")

    @property
    def signin_secret_file(self) -> Path | None:
        """The hub's copy (0600, root) of the LDAP service password or the OIDC client secret, read at hub
        start; the answers name only where the operator keeps it (a file or a variable)."""
        kind = self.a.hub.authenticator
        if kind == "ldap" and self.a.ldap and self.a.ldap.service_dn:
            return self.secrets_dir / "ldap-service-password"
        if kind == "oidc":
            return self.secrets_dir / "oidc-client-secret"
        return None

    @property
    def oidc_callback_url(self) -> str:
        return f"{self.public_hub_url}/hub/oauth_callback"

    @property
    def proxy_token_file(self) -> Path:
        return self.secrets_dir / "proxy-token"

    @property
    def hub_env_file(self) -> Path:
        """The hub's secret environment (the proxy token), read by its supervisor or systemd."""
        return self.services_dir / "hub.env"

    @property
    def secret_files(self) -> list[tuple[str, str, Path, str]]:
        """Every secret file of ours, in one list: (component, what, path, owner account); each 0600."""
        a, gw = self.a, self.a.gateway.user
        out = []
        if self.runs("gateway"):
            out.append(("gateway", "gateway token", self.gateway_token_file, gw))
        elif self.role == "hub":  # the hub host's copy, from the join file: read by the hub (root)
            out.append(("hub", "gateway token", self.gateway_token_file, "root"))
        if self.runs("hub"):
            out += [
                ("hub", "proxy token", self.proxy_token_file, "root"),
                ("hub", "hub environment", self.hub_env_file, "root"),
                ("hub", "cookie secret", self.cookie_secret_file, "root"),
            ]
            if self.signin_secret_file:
                out.append(("hub", f"{a.hub.authenticator} secret", self.signin_secret_file, "root"))
        if self.gateway_tls and self.runs("gateway"):
            out.append(("gateway", "TLS key", self.gateway_key_file, gw))
            if a.gateway.tls == "generate":
                out.append(("gateway", "CA key", self.tls_ca_key, "root"))
        if self.role == "gateway":
            out.append(("gateway", "join file", self.join_file, "root"))
        return out

    @property
    def hub_state_dir(self) -> Path:
        return self.state_dir / "hub"

    @property
    def cookie_secret_file(self) -> Path:
        return self.hub_state_dir / "jupyterhub_cookie_secret"

    @property
    def gateway_home(self) -> Path:
        """HOME and working directory of the gateway and its kernels (owned by gateway.user)."""
        return self.state_dir / "gateway"

    @property
    def gateway_runtime_dir(self) -> Path:
        return self.gateway_home / "runtime"

    # -- TLS between the user servers and the gateway (gateway.tls != "off")
    @property
    def tls_dir(self) -> Path:
        return self.state_dir / "tls"

    @property
    def gateway_tls(self) -> bool:
        return self.a.gateway.tls != "off"

    @property
    def tls_ca_key(self) -> Path:
        """The generated private CA's key (root only); it signs the gateway's certificate."""
        return self.tls_dir / "ca-key.pem"

    @property
    def gateway_ca_file(self) -> Path:
        """The CA certificate clients verify the gateway against (world-readable)."""
        return self.tls_dir / "ca.pem"

    @property
    def gateway_cert_file(self) -> Path:
        return self.tls_dir / "gateway.pem"

    @property
    def gateway_key_file(self) -> Path:
        """Readable by the gateway's user only (a copy when gateway.tls = "files")."""
        return self.tls_dir / "gateway-key.pem"

    @property
    def gateway_verify(self) -> str | bool:
        """httpx's verify= for the gateway: its CA file under TLS."""
        return str(self.gateway_ca_file) if self.gateway_tls else True

    @property
    def hub_verify(self) -> str | bool:
        return self.a.hub.tls_ca or True

    @property
    def services_dir(self) -> Path:
        return self.state_dir / "services"

    @property
    def backups_dir(self) -> Path:
        return self.state_dir / "backups"

    @property
    def log_dir(self) -> Path:
        return Path(self.a.system.log_dir)

    @property
    def install_log(self) -> Path:
        return self.log_dir / "install.log"

    @property
    def step_logs_dir(self) -> Path:
        """Each step's own lines, a file a step (steps run side by side: install.log has them interleaved)."""
        return self.log_dir / "steps"

    def step_log(self, step_id: str) -> Path:
        return self.step_logs_dir / f"{step_id}.log"

    def service_log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    @property
    def class_archive_log(self) -> Path:
        """The output of the job writing kernel_jvm_archive in the background (steps/spark_smoke.py)."""
        return self.log_dir / "class-archive.log"

    @property
    def kernel_dir(self) -> Path:
        return Path(self.a.kernels.dir) / self.a.kernels.name

    @property
    def scala_kernel_dir(self) -> Path:
        return Path(self.a.kernels.dir) / SCALA_KERNEL

    @property
    def r_kernel_dir(self) -> Path:
        return Path(self.a.kernels.dir) / R_KERNEL

    @property
    def kernel_dirs(self) -> list[Path]:
        """Every kernelspec directory of ours: the Spark Python kernel, then Scala and R when asked for."""
        k = self.a.kernels
        return [self.kernel_dir, *([self.scala_kernel_dir] if k.scala else []), *([self.r_kernel_dir] if k.r else [])]

    @property
    def kernels_root(self) -> Path:
        """The JUPYTER_PATH entry whose kernels/ holds our kernelspecs."""
        return Path(self.a.kernels.dir).parent

    # -- URLs
    @staticmethod
    def _host(ip: str) -> str:
        if ip in ("0.0.0.0", "::"):
            return "127.0.0.1"
        return f"[{ip}]" if ":" in ip else ip

    @property
    def gateway_url(self) -> str:
        """Where clients reach the gateway: its address, or on a split site the gateway host's (from every host)."""
        scheme = "https" if self.gateway_tls else "http"
        host = self.a.site.gateway_host or self.a.gateway.ip
        return f"{scheme}://{self._host(host)}:{self.a.gateway.port}"

    @property
    def join_file(self) -> Path:
        """What the gateway host hands the hub host (URL, token, CA): jeg_wizard.join."""
        return self.state_dir / "join.json"

    @property
    def hub_url(self) -> str:
        scheme = "https" if self.a.hub.tls_cert else "http"
        return f"{scheme}://{self._host(self.a.hub.ip)}:{self.a.hub.port}"

    @property
    def public_hub_url(self) -> str:
        """The hub's address for people: hub.public_url; else on all interfaces, this host's name when it
        resolves to an address other machines can reach, else its first interface address (hub_url is
        loopback then)."""
        if self.a.hub.public_url:
            return self.a.hub.public_url
        if self.a.hub.ip not in ("0.0.0.0", "::"):
            return self.hub_url
        scheme = "https" if self.a.hub.tls_cert else "http"
        host = _reachable_name() or next(iter(interface_addresses()), "127.0.0.1")
        return f"{scheme}://{host}:{self.a.hub.port}"

    @property
    def hub_api_url(self) -> str:
        return f"http://{self._host(self.a.hub.hub_ip)}:{self.a.hub.hub_port}/hub/api"

    @property
    def ports(self) -> dict[str, list[tuple[str, str, int]]]:
        """service -> (answers key, ip, port) it listens on, its own port first (the hub's proxy is its child)."""
        a = self.a
        ports: dict[str, list[tuple[str, str, int]]] = {}
        if self.runs("gateway"):
            ports["gateway"] = [("gateway.port", a.gateway.ip, a.gateway.port)]
        if self.runs("hub"):
            ports["hub"] = [
                ("hub.hub_port", a.hub.hub_ip, a.hub.hub_port),
                ("hub.port", a.hub.ip, a.hub.port),
                ("proxy.api_port", a.proxy.api_ip, a.proxy.api_port),
            ]
        hp = self.local_spark_master
        if hp and self.runs("gateway"):
            ip, s = self.spark_local_ip, a.spark
            ports["spark-master"] = [
                ("spark.master (port)", ip, hp[1]),
                ("spark.master_webui_port", ip, s.master_webui_port),
            ]
            if not a.site.worker_hosts:  # one host: a worker beside the master
                ports["spark-worker"] = [("spark.worker_webui_port", ip, s.worker_webui_port)]
        if self.role == "worker" and self.spark_master:
            ports["spark-worker"] = [("spark.worker_webui_port", self.worker_ip, a.spark.worker_webui_port)]
        return ports

    @property
    def listen_addresses(self) -> list[tuple[str, str]]:
        """(answers key, address) of what this host's part listens on: each must be an address here."""
        a, out = self.a, []
        if self.runs("gateway"):
            out.append(("gateway.ip", a.gateway.ip))
        if self.runs("hub"):
            out += [("hub.ip", a.hub.ip), ("hub.hub_ip", a.hub.hub_ip), ("proxy.api_ip", a.proxy.api_ip)]
        return out

    @cached_property
    def worker_ip(self) -> str:
        """A worker host's own address (site.worker_hosts): its worker listens there."""
        from . import roles

        return roles.worker_host(self.a)

    @property
    def proxy_api_url(self) -> str:
        return f"http://{self._host(self.a.proxy.api_ip)}:{self.a.proxy.api_port}/api/routes"


def _reachable_name() -> str | None:
    import ipaddress
    import socket

    name = socket.getfqdn()
    try:
        addrs = {ai[4][0] for ai in socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        return None
    return name if any(not ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs) else None


def interface_addresses() -> list[str]:
    """IPv4 addresses of this host's interfaces but loopback (SIOCGIFADDR; no tools needed)."""
    import fcntl
    import socket
    import struct

    out = []
    for _, name in socket.if_nameindex():
        if name == "lo":
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                packed = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name[:15].encode()))
            out.append(socket.inet_ntoa(packed[20:24]))
        except OSError:
            continue
    return out
