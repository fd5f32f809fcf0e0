"""The answers file: one TOML section per README area, validated completely before anything runs.

Every error names the key path and what is allowed; unknown keys get a did-you-mean.
Secrets never sit here in clear: the admin password comes from an env var, a 0600 file,
a crypt hash or a prompt; the gateway token lives in a 0600 file (generated when missing).
"""
from __future__ import annotations

import difflib
import ipaddress
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from . import distro

USER_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
HOST_RE = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
VERSION_RE = re.compile(r"^\d+\.\d+\.\d+$")
KERNEL_NAME_RE = re.compile(r"^[a-zA-Z0-9._-]+$")
MASTER_RE = re.compile(r"^(local(\[(\*|\d+)\])?|yarn|spark://[^\s/:]+:\d{1,5})$")


class AnswersError(Exception):
    """Raised with every problem found; str() is the message for the operator."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def _abs_path(v: str) -> str:
    if not isinstance(v, str) or not v.startswith("/"):
        raise ValueError(f"must be an absolute path (starting with /), got {v!r}")
    if "\0" in v or "\n" in v:
        raise ValueError("must not contain NUL or newline characters")
    return v.rstrip("/") or "/"


def _ip(v: str, *, allow_any: bool = True) -> str:
    try:
        addr = ipaddress.ip_address(v)
    except ValueError:
        raise ValueError(f"must be an IP address such as 127.0.0.1 or 0.0.0.0, got {v!r}") from None
    if addr.is_unspecified and not allow_any:
        raise ValueError(f"must be a concrete address clients can reach, not {v}")
    return v


def _port(v: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise ValueError(f"must be an integer between 1 and 65535, got {v!r}")
    return v


def _user(v: str) -> str:
    if not isinstance(v, str) or not USER_RE.match(v):
        raise ValueError(
            f"must be a unix user name (lower-case letter or _, then up to 31 of a-z 0-9 _ -), got {v!r}"
        )
    return v


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True)


class System(Section):
    prefix: str = "/opt"
    state_dir: str = "/var/lib/jeg-wizard"
    log_dir: str = "/var/log/jeg-wizard"
    apt_update: bool = True
    apt_upgrade: bool = False
    python: str = "/usr/bin/python3"
    # a config file or kernelspec that exists and was not written by jeg-wizard: replace it (true; the
    # original is kept in <state_dir>/backups and put back by `jeg-wizard uninstall`) or stop (false)
    replace_existing_files: bool = False

    _paths = field_validator("prefix", "state_dir", "log_dir", "python")(classmethod(lambda cls, v: _abs_path(v)))


class Java(Section):
    version: int = Field(default_factory=lambda: distro.default_java())  # what this distribution ships
    home: str = ""  # empty: /usr/lib/jvm/java-<version>-openjdk-<arch>

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v not in distro.JAVA_VERSIONS:
            raise ValueError(f"must be one of {', '.join(map(str, distro.JAVA_VERSIONS))}, got {v}")
        return v

    @field_validator("home")
    @classmethod
    def _home(cls, v: str) -> str:
        return _abs_path(v) if v else v


class Spark(Section):
    source: Literal["pypi", "apache", "url", "tarball"] = "pypi"
    version: str = "4.3.0"
    hadoop: str = "3"
    url: str = ""
    tarball: str = ""
    sha512: str = ""
    home: str = ""  # empty: <prefix>/spark (a symlink to the versioned directory)
    master: str = "local[*]"
    cores_max: int = Field(default=1, ge=1, le=1024)
    master_webui_port: int = 8380
    worker_webui_port: int = 8381

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if not VERSION_RE.match(v):
            raise ValueError(f"must be a Spark release like 3.5.3 or 4.3.0, got {v!r}")
        return v

    @field_validator("hadoop")
    @classmethod
    def _hadoop(cls, v: str) -> str:
        if v not in ("2.7", "3", "3.2"):
            raise ValueError(f"must be one of 2.7, 3, 3.2 (the hadoop suffix of the Apache tarball), got {v!r}")
        return v

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if v and not re.match(r"^(https?|file)://\S+$", v):
            raise ValueError(f"must be an http://, https:// or file:// URL, got {v!r}")
        return v

    @field_validator("tarball", "home")
    @classmethod
    def _paths(cls, v: str) -> str:
        return _abs_path(v) if v else v

    @field_validator("sha512")
    @classmethod
    def _sha(cls, v: str) -> str:
        v = v.strip().lower()
        if v and not re.fullmatch(r"[0-9a-f]{128}", v):
            raise ValueError("must be 128 hexadecimal characters (the .sha512 of the tarball)")
        return v

    @field_validator("master")
    @classmethod
    def _master(cls, v: str) -> str:
        if not MASTER_RE.match(v):
            raise ValueError(f"must be local[*], local[N], spark://HOST:PORT or yarn, got {v!r}")
        return v

    @field_validator("master_webui_port", "worker_webui_port")
    @classmethod
    def _ports(cls, v: int) -> int:
        return _port(v)

    @model_validator(mode="after")
    def _source_needs(self) -> "Spark":
        if self.source == "url" and not self.url:
            raise ValueError("spark.url: is required when spark.source = 'url'")
        if self.source == "tarball" and not self.tarball:
            raise ValueError("spark.tarball: is required when spark.source = 'tarball'")
        if self.source == "tarball" and not Path(self.tarball).is_file():
            raise ValueError(f"spark.tarball: no such file {self.tarball}")
        return self


class Environment(Section):
    file: str = "/etc/environment"
    pyspark_python: str = ""  # empty: the kernel venv's python

    @field_validator("file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _abs_path(v)

    @field_validator("pyspark_python")
    @classmethod
    def _py(cls, v: str) -> str:
        return _abs_path(v) if v else v


class Kernels(Section):
    dir: str = "/usr/local/share/jupyter/kernels"
    name: str = "spark_python_local"
    display_name: str = "Spark - Python (local)"
    spark_opts: str = ""
    venv: str = ""  # empty: <prefix>/jeg/kernel

    @field_validator("dir")
    @classmethod
    def _dir(cls, v: str) -> str:
        return _abs_path(v)

    @field_validator("venv")
    @classmethod
    def _venv(cls, v: str) -> str:
        return _abs_path(v) if v else v

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not KERNEL_NAME_RE.match(v):
            raise ValueError(f"must use only letters, digits, '.', '_' and '-', got {v!r}")
        return v

    @field_validator("spark_opts")
    @classmethod
    def _opts(cls, v: str) -> str:
        if any(c in v for c in "\n\0\"'`$;|&"):
            raise ValueError("must be plain spark-submit options (no quotes, $, ;, |, & or newlines)")
        return v


class Gateway(Section):
    ip: str = "127.0.0.1"
    port: int = 8888
    venv: str = ""  # empty: <prefix>/jeg/gateway
    token_file: str = ""  # empty: <state_dir>/secrets/gateway-token (generated when missing)
    kernel_launch_timeout: int = Field(default=120, ge=10, le=3600)
    request_timeout: float = Field(default=150.0, ge=10, le=7200)
    list_kernels: bool = True
    unauthorized_users: list[str] = ["root"]
    # members of these groups are refused kernels too (their kernels could become root); the gateway
    # reads the members each time it starts
    unauthorized_groups: list[str] = ["sudo", "wheel"]
    max_kernels: int = Field(default=16, ge=0, le=10000)  # running kernels in all; 0: no limit
    max_kernels_per_user: int = Field(default=4, ge=0, le=10000)  # 0: no limit
    cull_idle_timeout: int = Field(default=3600, ge=0, le=30 * 86400)  # seconds idle before a kernel is shut down; 0: never
    port_range: str = ""  # "LOW..HIGH" (at least 1000 ports) for the kernels' ZeroMQ ports; empty: any free port
    tls: Literal["off", "generate", "files"] = "off"
    tls_cert: str = ""  # tls = "files": the gateway's certificate (PEM, chain after it)
    tls_key: str = ""  # tls = "files": its private key (mode 0600)
    tls_ca: str = ""  # tls = "files": the CA certificate user servers and health checks verify against
    tls_names: list[str] = []  # tls = "generate": extra DNS names or IPs for the certificate
    # kernels run as this unprivileged system user (created); "root" only if you accept that every
    # hub user can then run code as root
    user: str = "jeg-gateway"
    # true: each kernel runs as the hub user the user server names in KERNEL_USERNAME. Switching users
    # needs root, so the gateway then runs as root (user must be left out or be "root"), and it trusts
    # KERNEL_USERNAME from every holder of its token: every user server holds it.
    impersonation: bool = False

    @field_validator("ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        return _ip(v)

    @field_validator("port")
    @classmethod
    def _port(cls, v: int) -> int:
        return _port(v)

    @field_validator("venv", "token_file", "tls_cert", "tls_key", "tls_ca")
    @classmethod
    def _paths(cls, v: str) -> str:
        return _abs_path(v) if v else v

    @field_validator("unauthorized_users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        return [_user(u) for u in v]

    @field_validator("unauthorized_groups")
    @classmethod
    def _groups(cls, v: list[str]) -> list[str]:
        for g in v:
            if not isinstance(g, str) or not USER_RE.match(g):
                raise ValueError(f"must be unix group names (like sudo or wheel), got {g!r}")
        return v

    @field_validator("port_range")
    @classmethod
    def _range(cls, v: str) -> str:
        if not v:
            return v
        m = re.fullmatch(r"(\d{1,5})\.\.(\d{1,5})", v)
        low, high = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        if not m or not 1024 <= low < high <= 65535 or high - low < 1000:
            raise ValueError(f"must be LOW..HIGH with 1024 <= LOW, HIGH <= 65535 and at least 1000 ports "
                             f"(e.g. 40000..41000), got {v!r}")
        return v

    @field_validator("tls_names")
    @classmethod
    def _names(cls, v: list[str]) -> list[str]:
        for n in v:
            try:
                ipaddress.ip_address(n)
            except (ValueError, TypeError):
                if not isinstance(n, str) or not HOST_RE.match(n):
                    raise ValueError(f"must be DNS names or IP addresses, got {n!r}") from None
        return v

    @field_validator("user")
    @classmethod
    def _user(cls, v: str) -> str:
        return _user(v)

    @model_validator(mode="before")
    @classmethod
    def _impersonation_runs_as_root(cls, data: Any) -> Any:
        # the default user (jeg-gateway) cannot switch to the hub user: impersonation means root
        if isinstance(data, dict) and data.get("impersonation") is True and "user" not in data:
            return {**data, "user": "root"}
        return data

    @model_validator(mode="after")
    def _impersonation_user(self) -> "Gateway":
        if self.impersonation and self.user != "root":
            raise ValueError(
                f"gateway.user: must be root (or left out, which means root) when gateway.impersonation = true: "
                f"kernels switch from the gateway's user to the hub user, and only root can; got {self.user!r}"
            )
        return self

    @model_validator(mode="after")
    def _timeouts(self) -> "Gateway":
        if self.request_timeout <= self.kernel_launch_timeout:
            raise ValueError(
                f"gateway.request_timeout: must be greater than gateway.kernel_launch_timeout "
                f"({self.kernel_launch_timeout}), or the client gives up while a Spark kernel is still starting; "
                f"got {self.request_timeout:g}"
            )
        return self

    @model_validator(mode="after")
    def _tls_files(self) -> "Gateway":
        given = [k for k in ("tls_cert", "tls_key", "tls_ca") if getattr(self, k)]
        if self.tls == "files":
            for k in ("tls_cert", "tls_key", "tls_ca"):
                if not getattr(self, k):
                    raise ValueError(f"gateway.{k}: is required when gateway.tls = 'files'")
                if not Path(getattr(self, k)).is_file():
                    raise ValueError(f"gateway.{k}: no such file {getattr(self, k)}")
        elif given:
            raise ValueError(f"gateway.{given[0]}: only used when gateway.tls = 'files' (gateway.tls is '{self.tls}')")
        if self.tls_names and self.tls != "generate":
            raise ValueError(f"gateway.tls_names: only used when gateway.tls = 'generate' (gateway.tls is '{self.tls}')")
        return self


class Proxy(Section):
    version: str = "auto"  # auto: 5.3.0 on node >= 20, else 4.6.3
    api_ip: str = "127.0.0.1"
    api_port: int = 8001
    prefix: str = ""  # empty: <prefix>/jeg/proxy

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v != "auto" and not VERSION_RE.match(v):
            raise ValueError(f"must be 'auto' or a version like 4.6.3, got {v!r}")
        return v

    @field_validator("api_ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        return _ip(v)

    @field_validator("api_port")
    @classmethod
    def _port(cls, v: int) -> int:
        return _port(v)

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, v: str) -> str:
        return _abs_path(v) if v else v


class Hub(Section):
    ip: str = "0.0.0.0"
    port: int = 8000
    hub_ip: str = "127.0.0.1"
    hub_port: int = 8081
    venv: str = ""  # empty: <prefix>/jeg/hub
    config_dir: str = "/etc/jupyter"
    gateway_client: Literal["builtin", "nb2kg"] = "builtin"
    default_url: Literal["/lab", "/tree"] = "/lab"
    # HTTPS on the public port (both or neither); tls_ca: the CA health checks verify against when
    # the certificate is not from a CA this machine trusts
    tls_cert: str = ""
    tls_key: str = ""
    tls_ca: str = ""

    @field_validator("ip")
    @classmethod
    def _ip(cls, v: str) -> str:
        return _ip(v)

    @field_validator("hub_ip")
    @classmethod
    def _hub_ip(cls, v: str) -> str:
        return _ip(v, allow_any=False)

    @field_validator("port", "hub_port")
    @classmethod
    def _port(cls, v: int) -> int:
        return _port(v)

    @field_validator("venv")
    @classmethod
    def _venv(cls, v: str) -> str:
        return _abs_path(v) if v else v

    @field_validator("config_dir")
    @classmethod
    def _cfg(cls, v: str) -> str:
        return _abs_path(v)

    @field_validator("tls_cert", "tls_key", "tls_ca")
    @classmethod
    def _tls_paths(cls, v: str) -> str:
        if v and not Path(_abs_path(v)).is_file():
            raise ValueError(f"no such file {v}")
        return _abs_path(v) if v else v

    @model_validator(mode="after")
    def _tls_pair(self) -> "Hub":
        if bool(self.tls_cert) != bool(self.tls_key):
            missing = "hub.tls_key" if self.tls_cert else "hub.tls_cert"
            raise ValueError(f"{missing}: is required too: HTTPS on the hub's port needs both hub.tls_cert and hub.tls_key")
        if self.tls_ca and not self.tls_cert:
            raise ValueError("hub.tls_ca: only used with hub.tls_cert and hub.tls_key")
        return self


class Users(Section):
    admin: str = "hubadmin"
    # Where the admin password comes from (at most one); none: keep an existing user's password,
    # or prompt when a terminal is attached.
    admin_password_env: str = ""
    admin_password_file: str = ""
    admin_password_hash: str = ""
    allowed: list[str] = []

    @field_validator("admin")
    @classmethod
    def _admin(cls, v: str) -> str:
        _user(v)
        if v == "root":
            raise ValueError("must not be root: the gateway refuses kernels for root and the hub should not log root in")
        return v

    @field_validator("allowed")
    @classmethod
    def _allowed(cls, v: list[str]) -> list[str]:
        return [_user(u) for u in v]

    @field_validator("admin_password_env")
    @classmethod
    def _env(cls, v: str) -> str:
        if v and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", v):
            raise ValueError(f"must be an environment variable name, got {v!r}")
        return v

    @field_validator("admin_password_file")
    @classmethod
    def _file(cls, v: str) -> str:
        return _abs_path(v) if v else v

    @field_validator("admin_password_hash")
    @classmethod
    def _hash(cls, v: str) -> str:
        if v and not re.fullmatch(r"\$(1|5|6|y|2[aby]|gy|7)\$[./A-Za-z0-9$=,]+", v):
            raise ValueError("must be a crypt(3) hash such as the output of `openssl passwd -6` ($6$...)")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> "Users":
        given = [k for k in ("admin_password_env", "admin_password_file", "admin_password_hash") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(f"users: set at most one of admin_password_env, admin_password_file, admin_password_hash (got {', '.join(given)})")
        return self


class Services(Section):
    manager: Literal["auto", "systemd", "process"] = "auto"
    start: bool = True


SECRET_KEYS = {
    ("gateway", "token"): "put the token in a 0600 file and set gateway.token_file (or leave it empty to generate one)",
    ("users", "admin_password"): "use users.admin_password_env, users.admin_password_file (0600) or users.admin_password_hash",
    ("hub", "cookie_secret"): "the hub's cookie secret is generated into a 0600 file in system.state_dir",
    ("proxy", "auth_token"): "the proxy token is generated into a 0600 file in system.state_dir",
}


class Answers(Section):
    system: System = System()
    java: Java = Java()
    spark: Spark = Spark()
    environment: Environment = Environment()
    kernels: Kernels = Kernels()
    gateway: Gateway = Gateway()
    proxy: Proxy = Proxy()
    hub: Hub = Hub()
    users: Users = Users()
    services: Services = Services()


# ---------------------------------------------------------------- loading and cross-field rules


def _unknown_key_message(loc: tuple, model: type[BaseModel]) -> str:
    """Did-you-mean for an unknown key at loc (walks the model to the parent section)."""
    parent: Any = model
    for part in loc[:-1]:
        field = parent.model_fields.get(part) if isinstance(parent, type) and issubclass(parent, BaseModel) else None
        parent = field.annotation if field else None
    known = list(parent.model_fields) if isinstance(parent, type) and issubclass(parent, BaseModel) else []
    path = ".".join(map(str, loc))
    hint = difflib.get_close_matches(str(loc[-1]), known, n=1)
    where = ".".join(map(str, loc[:-1]))
    prefix = f"{where}." if where else ""
    if hint:
        return f"{path}: unknown key; did you mean '{prefix}{hint[0]}'?"
    return f"{path}: unknown key; allowed here: {', '.join(known)}"


def _format(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = tuple(p for p in e["loc"])
        path = ".".join(map(str, loc))
        if e["type"] == "extra_forbidden":
            secret_hint = SECRET_KEYS.get(loc[-2:]) if len(loc) >= 2 else None
            if secret_hint:
                out.append(f"{path}: secrets are not kept in the answers file in clear; {secret_hint}")
            else:
                out.append(_unknown_key_message(loc, Answers))
            continue
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        if e["type"] == "literal_error":
            allowed = e.get("ctx", {}).get("expected", "")
            msg = f"must be one of {allowed}, got {e.get('input')!r}"
        elif e["type"] in ("int_parsing", "int_type", "float_parsing", "float_type", "bool_type", "bool_parsing",
                           "string_type", "list_type", "model_type", "greater_than_equal", "less_than_equal",
                           "int_from_float"):
            msg = f"{msg[0].lower()}{msg[1:]}, got {e.get('input')!r}"
        # cross-field validators name their own key: don't repeat the section
        if re.match(r"^[a-z_]+(\.[a-z_0-9]+)*: ", msg):
            out.append(msg)
        else:
            out.append(f"{path}: {msg}" if path else msg)
    return out


def cross_checks(a: Answers, dist: distro.Distro | None = None) -> list[str]:
    """Rules that span sections: port collisions, Spark/Java/distribution compatibility."""
    problems: list[str] = []
    ports = {
        "gateway.port": a.gateway.port,
        "hub.port": a.hub.port,
        "hub.hub_port": a.hub.hub_port,
        "proxy.api_port": a.proxy.api_port,
    }
    if a.spark.master.startswith("spark://"):
        ports["spark.master_webui_port"] = a.spark.master_webui_port
        ports["spark.worker_webui_port"] = a.spark.worker_webui_port
        ports["spark.master (port)"] = int(a.spark.master.rsplit(":", 1)[1])
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            problems.append(f"{key}: port {port} is already used by {seen[port]}; every service needs its own port")
        else:
            seen[port] = key
    if a.spark.master.startswith("spark://"):
        p = int(a.spark.master.rsplit(":", 1)[1])
        if not 1 <= p <= 65535:
            problems.append(f"spark.master: port must be between 1 and 65535, got {p}")
    problems += distro.spark_java_problems(a.spark.version, a.java.version, dist or distro.detect())
    if a.hub.gateway_client == "nb2kg":
        problems.append(
            "hub.gateway_client: 'nb2kg' cannot work with this stack: nb2kg 0.7 needs notebook<6 (classic "
            "Notebook 5.7) and cannot load in jupyter_server 2, which the user servers need for JupyterLab 4 and "
            "Notebook 7; choose 'builtin' (jupyter_server's GatewayClient, the maintained successor of nb2kg)"
        )
    if a.gateway.user == a.users.admin:
        problems.append(f"gateway.user: must not be the hub admin '{a.users.admin}' (its kernels could read the gateway's token)")
    if a.users.admin in a.gateway.unauthorized_users:
        problems.append(f"gateway.unauthorized_users: contains the hub admin '{a.users.admin}', who could then never start a kernel")
    return problems


def parse(data: dict, dist: distro.Distro | None = None) -> Answers:
    try:
        a = Answers.model_validate(data)
    except ValidationError as err:
        raise AnswersError(_format(err)) from None
    problems = cross_checks(a, dist)
    if problems:
        raise AnswersError(problems)
    return a


def load(path: str | Path, dist: distro.Distro | None = None) -> Answers:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as e:
        raise AnswersError([f"{p}: cannot read the answers file: {e.strerror}"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise AnswersError([f"{p}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as e:
        raise AnswersError([f"{p}: not valid TOML: {e}{_toml_where(raw.decode('utf-8'), str(e))}"]) from None
    held = _secrets_held(data)
    mode = p.stat().st_mode & 0o777
    loose = [f"{held[0]}: {p} holds a secret and is readable by group or others (mode {mode:o}); "
             f"run: chmod 600 {p}"] if held and mode & 0o077 else []
    try:
        a = parse(data, dist)
    except AnswersError as e:
        raise AnswersError(e.problems + loose) from None
    if loose:
        raise AnswersError(loose)
    return a


def _secrets_held(data: dict) -> list[str]:
    """Secrets the file may legitimately hold (a password hash can be cracked offline); secrets in
    clear are refused whatever the mode (SECRET_KEYS)."""
    users = data.get("users")
    return ["users.admin_password_hash"] if isinstance(users, dict) and users.get("admin_password_hash") else []


def _toml_where(text: str, err: str) -> str:
    """'; line N (in [table]): <the line>' so a syntax error names the key it is about."""
    m = re.search(r"at line (\d+)", err)
    lines = text.splitlines()
    if not m or not 1 <= int(m.group(1)) <= len(lines):
        return ""
    n = int(m.group(1))
    here = lines[n - 1].strip()
    table = "" if here.startswith("[") else next((ln.strip() for ln in reversed(lines[:n - 1]) if re.match(r"\s*\[", ln)), "")
    return f"; line {n}{f' (in {table})' if table else ''}: {here}"
