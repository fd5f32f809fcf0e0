"""The answers file: one TOML section per README area, validated completely before anything runs.

Every error names the key path and what is allowed; unknown keys get a did-you-mean.
Secrets never sit here in clear: the admin password comes from an env var, a 0600 file,
a crypt hash or a prompt; the gateway token lives in a 0600 file (generated when missing).
"""

from __future__ import annotations

import difflib
import ipaddress
import os
import re
import stat
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from . import distro, releases
from .answers_base import AnswersError
from .redact import MASK
from .values import (
    HOST_RX,
    IP,
    URL,
    USER_RX,
    USER_WHAT,
    VERSION_RX,
    AbsPath,
    Bool,
    ConcreteIP,
    CryptHash,
    EnvFile,
    EnvName,
    GroupName,
    HostOrIP,
    Int,
    KernelName,
    LdapURL,
    Memory,
    OptAbsPath,
    OptOwnedDir,
    OptSiteHost,
    OwnedDir,
    Port,
    PortRange,
    Prefix,
    Seconds,
    Sha512,
    SiteHost,
    SparkMaster,
    SparkOpts,
    SparkVersion,
    Text,
    UserName,
    WebURL,
    names,
    port_range,
    show,
    standalone_master,
)

D = Field  # a key's default and its description, in one place (the example answers and the docs read them)


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, frozen=True, strict=True)


class System(Section):
    prefix: Prefix = D("/opt", description="Spark and the venvs (<prefix>/jeg/...) go here")
    state_dir: OwnedDir = D("/var/lib/jeg-wizard", description="root-only: secrets, journal, backups")
    log_dir: OwnedDir = D("/var/log/jeg-wizard", description="install.log, gateway.log, hub.log")
    apt_update: Bool = D(True, description="refresh package lists (skipped when every package is there)")
    apt_upgrade: Bool = D(False, description="apt upgrade; off by default on a production box")
    python: AbsPath = D("/usr/bin/python3", description="the distribution's python builds the venvs")
    replace_existing_files: Bool = D(
        False,
        description=(
            "a config file or kernelspec that exists and was not written by jeg-wizard: replace it (true; the "
            "original is kept in <state_dir>/backups and put back by `jeg-wizard uninstall`) or stop (false)"
        ),
    )


class Java(Section):
    version: Int(1, 99) = D(
        default_factory=lambda: distro.default_java(),
        description="the OpenJDK major version: 17, or 21 where apt has no 17 (Debian 13); Spark 4.x needs 17 or 21",
    )
    home: OptAbsPath = D("", description="empty: /usr/lib/jvm/java-<version>-openjdk-<arch>")

    @field_validator("version")
    @classmethod
    def _version(cls, v: int) -> int:
        if v not in distro.JAVA_VERSIONS:
            raise ValueError(f"must be one of {', '.join(map(str, distro.JAVA_VERSIONS))}, got {v}")
        return v


class Spark(Section):
    source: Literal["pypi", "apache", "url", "tarball"] = D("pypi", description="where Spark comes from")
    version: SparkVersion = D(
        default_factory=lambda: distro.default_spark(sys.version_info[:2]),
        description="a Spark release like 4.3.0 or 3.5.3; default: 4.3.0, or 4.2.1 "
        "where the distribution's Python is 3.10 (Ubuntu 22.04)",
    )
    hadoop: Text = D("3", description="spark-<version>-bin-hadoop<suffix>.tgz: 2.7, 3 or 3.2")
    url: URL = D("", description="with source = url: an http(s):// or file:// URL of the tarball")
    tarball: OptAbsPath = D("", description="with source = tarball: absolute path of a .tgz")
    sha512: Sha512 = D("", description="checksum of the tarball; fetched for apache when empty")
    home: OptOwnedDir = D("", description="the Spark symlink; empty: <prefix>/spark")
    master: SparkMaster = D("local[*]", description="local[*] | local[N] | spark://HOST:PORT (started here) | yarn")
    cores_max: Int(1, 1024) = D(1, description="spark.cores.max per kernel on a standalone cluster")
    driver_memory: Memory = D("1g", description="each kernel's driver (the kernel's JVM on the gateway host)")
    executor_memory: Memory = D("1g", description="each executor of a kernel (standalone, yarn)")
    executor_cores: Int(1, 1024) = D(1, description="cores of each executor of a kernel (standalone, yarn)")
    master_webui_port: Port = D(8380, description="standalone master web UI")
    worker_webui_port: Port = D(8381, description="standalone worker web UI (not 8081: the hub's)")

    @field_validator("hadoop")
    @classmethod
    def _hadoop(cls, v: str) -> str:
        if v not in ("2.7", "3", "3.2"):
            raise ValueError(f"must be one of 2.7, 3, 3.2 (the hadoop suffix of the Apache tarball), got {show(v)}")
        return v

    @model_validator(mode="after")
    def _source_needs(self) -> Spark:
        if self.master.startswith("spark://") and self.executor_cores > self.cores_max:
            # no executor could start: the kernel's jobs would wait forever for resources
            raise ValueError(
                f"spark.executor_cores: {self.executor_cores} is more than spark.cores_max ({self.cores_max}), "
                "so no executor of a kernel could start; lower it or raise spark.cores_max"
            )
        if self.source == "url" and not self.url:
            raise ValueError("spark.url: is required when spark.source = 'url'")
        if self.source == "tarball" and not self.tarball:
            raise ValueError("spark.tarball: is required when spark.source = 'tarball'")
        if self.source == "tarball" and not Path(self.tarball).is_file():
            raise ValueError(f"spark.tarball: no such file {self.tarball}")
        return self


class Environment(Section):
    file: EnvFile = D("/etc/environment", description="we own only a marked block in it")
    pyspark_python: OptAbsPath = D("", description="empty: the kernel venv's python")


class Kernels(Section):
    dir: OwnedDir = D("/usr/local/share/jupyter/kernels", description="a kernels/ directory on the JUPYTER_PATH")
    name: KernelName = D("spark_python_local", description="the kernelspec's directory name: letters, digits, . _ -")
    display_name: Text = D("Spark - Python (local)", description="what JupyterLab's launcher shows")
    spark_opts: SparkOpts = D("", description='extra spark-submit options, e.g. "--driver-memory 2g"')
    venv: OptOwnedDir = D("", description="empty: <prefix>/jeg/kernel")
    jvm_archive: Bool = D(
        True,
        description="build a class archive of Spark's driver JVM at install (~150 MB, ~40 s): kernels start "
        "about twice as fast (Java 17+, PyPI's Spark; a --driver-java-options in spark_opts replaces it)",
    )
    scala: Bool = D(
        False,
        description=f"a Scala kernel beside Python (Apache Toree 0.5, Scala 2.12): needs Spark 3.x, so spark.version "
        f"becomes {releases.TOREE_SPARK} unless given",
    )
    r: Bool = D(
        False,
        description="an R kernel beside Python (IRkernel from the distribution); with PyPI's Spark it has no Spark "
        "(pyspark ships no SparkR)",
    )


class Gateway(Section):
    ip: IP = D("127.0.0.1", description="all-in-one: loopback; two hosts: an address the hub host reaches")
    port: Port = D(8888, description="the gateway's port")
    venv: OptOwnedDir = D("", description="empty: <prefix>/jeg/gateway")
    token_file: OptAbsPath = D("", description="empty: <state_dir>/secrets/gateway-token (generated when missing)")
    kernel_launch_timeout: Int(10, 3600) = D(120, description="seconds a Spark kernel may take to start")
    request_timeout: Seconds(10, 7200) = D(150.0, description="must exceed the kernel start timeout")
    list_kernels: Bool = D(True, description="JupyterLab polls /api/kernels and breaks on 403")
    unauthorized_users: names(UserName) = D(["root"], description="refused kernels (root by default)")
    unauthorized_groups: names(GroupName) = D(
        ["sudo", "wheel"],
        description=(
            "members of these groups are refused kernels too (their kernels could become root); the gateway reads "
            "the members each time it starts"
        ),
    )
    max_kernels: Int(0, 10000) = D(16, description="running kernels in all; 0: no limit")
    max_kernels_per_user: Int(0, 10000) = D(4, description="0: no limit")
    cull_idle_timeout: Int(0, 30 * 86400) = D(3600, description="seconds idle before a kernel is shut down; 0: never")
    port_range: PortRange = D(
        "", description=('"LOW..HIGH" (at least 1000 ports) for the kernels\' ZeroMQ ports; empty: any free port')
    )
    tls: Literal["off", "generate", "files"] = D(
        "off", description=("loopback: off is fine; two hosts: generate (a private CA, recommended) or files")
    )
    tls_cert: OptAbsPath = D("", description="tls = files: the gateway's certificate (PEM, chain after it)")
    tls_key: OptAbsPath = D("", description="tls = files: its private key (mode 0600)")
    tls_ca: OptAbsPath = D(
        "", description="tls = files: the CA certificate user servers and health checks verify against"
    )
    tls_names: names(HostOrIP) = D([], description="tls = generate: extra DNS names or IPs for the certificate")
    user: UserName = D(
        "jeg-gateway",
        description=(
            'kernels run as this unprivileged system user (created); "root" only if you accept that every hub user '
            "can then run code as root"
        ),
    )
    impersonation: Bool = D(
        False,
        description=(
            "true: each kernel runs as the hub user named in KERNEL_USERNAME; the gateway then runs as root and "
            "trusts that name from every holder of its token (every user server)"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _impersonation_runs_as_root(cls, data: Any) -> Any:
        # the default user (jeg-gateway) cannot switch to the hub user: impersonation means root
        if isinstance(data, dict) and data.get("impersonation") is True and "user" not in data:
            return {**data, "user": "root"}
        return data

    @model_validator(mode="after")
    def _impersonation_user(self) -> Gateway:
        if self.impersonation and self.user != "root":
            raise ValueError(
                f"gateway.user: must be root (or left out, which means root) when gateway.impersonation = true: "
                f"kernels switch from the gateway's user to the hub user, and only root can; got {self.user!r}"
            )
        return self

    @model_validator(mode="after")
    def _timeouts(self) -> Gateway:
        if self.request_timeout <= self.kernel_launch_timeout:
            raise ValueError(
                f"gateway.request_timeout: must be greater than gateway.kernel_launch_timeout "
                f"({self.kernel_launch_timeout}), or the client gives up while a Spark kernel is still starting; "
                f"got {self.request_timeout:g}"
            )
        return self

    @model_validator(mode="after")
    def _tls_files(self) -> Gateway:
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
            raise ValueError(
                f"gateway.tls_names: only used when gateway.tls = 'generate' (gateway.tls is '{self.tls}')"
            )
        return self


class Proxy(Section):
    version: Text = D("auto", description="auto: 5.3.0 on node >= 20, else 4.6.3")
    api_ip: IP = D("127.0.0.1", description="the proxy's REST API address")
    api_port: Port = D(8001, description="the proxy's REST API port")
    prefix: OptOwnedDir = D("", description="empty: <prefix>/jeg/proxy")

    @field_validator("version")
    @classmethod
    def _version(cls, v: str) -> str:
        if v != "auto" and not re.fullmatch(VERSION_RX, v):
            raise ValueError(f"must be 'auto' or a version like 4.6.3, got {show(v)}")
        return v


class Hub(Section):
    ip: IP = D("0.0.0.0", description="the public address users open in a browser (0.0.0.0: all)")
    port: Port = D(8000, description="the public port")
    hub_ip: ConcreteIP = D(
        "127.0.0.1", description="the hub's internal API address (a concrete one user servers reach)"
    )
    hub_port: Port = D(8081, description="the hub's internal API port")
    venv: OptOwnedDir = D("", description="empty: <prefix>/jeg/hub")
    config_dir: OwnedDir = D("/etc/jupyter", description="jupyterhub_config.py and the gateway config")
    gateway_client: Literal["builtin", "nb2kg"] = D(
        "builtin",
        description="builtin: jupyter_server's GatewayClient; nb2kg: the README's nb2kg with the classic notebook 5.7 "
        "in a venv of its own (Python 3.10-3.11)",
    )
    default_url: Literal["/lab", "/tree"] = D("/lab", description="JupyterLab or the classic tree")
    lab_news: bool = D(False, description="JupyterLab's news feed and update check (they reach the internet)")
    tls_cert: OptAbsPath = D("", description="HTTPS on the public port (both or neither of cert and key)")
    tls_key: OptAbsPath = D("", description="its private key, mode 0600")
    tls_ca: OptAbsPath = D("", description="the CA health checks verify against when not one this machine trusts")
    authenticator: Literal["pam", "ldap", "oidc"] = D(
        "pam",
        description="who signs users in: pam (local accounts), ldap (a directory: [ldap]) or oidc (single sign-on: "
        "[oidc]); checked live before the hub switches",
    )
    public_url: WebURL = D(
        "",
        description="the hub's address in users' browsers (OpenID Connect sends them back to <it>/hub/oauth_callback); "
        "empty: http(s)://<this host's name>:<port>",
    )

    @field_validator("tls_cert", "tls_key", "tls_ca")
    @classmethod
    def _tls_paths(cls, v: str) -> str:
        if v and not Path(v).is_file():
            raise ValueError(f"no such file {v}")
        return v

    @model_validator(mode="after")
    def _tls_pair(self) -> Hub:
        if bool(self.tls_cert) != bool(self.tls_key):
            missing = "hub.tls_key" if self.tls_cert else "hub.tls_cert"
            raise ValueError(
                f"{missing}: is required too: HTTPS on the hub's port needs both hub.tls_cert and hub.tls_key"
            )
        if self.tls_ca and not self.tls_cert:
            raise ValueError("hub.tls_ca: only used with hub.tls_cert and hub.tls_key")
        return self


class Users(Section):
    admin: UserName = D("hubadmin", description="PAM user and hub admin (not root)")
    # Where the admin password comes from (at most one); none: keep an existing user's password,
    # or prompt when a terminal is attached.
    admin_password_env: EnvName = D("", description="for unattended runs: a variable holding the password")
    admin_password_file: OptAbsPath = D("", description="for unattended runs: a 0600 file holding the password")
    admin_password_hash: CryptHash = D("", description="a crypt hash ($6$...) instead of a password")
    allowed: names(UserName) = D([], description="PAM users allowed to log in besides the admin")

    @field_validator("admin")
    @classmethod
    def _admin(cls, v: str) -> str:
        if v == "root":
            raise ValueError(
                "must not be root: the gateway refuses kernels for root and the hub should not log root in"
            )
        return v

    @model_validator(mode="after")
    def _one_source(self) -> Users:
        given = [k for k in ("admin_password_env", "admin_password_file", "admin_password_hash") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(
                f"users: set at most one of admin_password_env, admin_password_file, admin_password_hash (got {', '.join(given)})"
            )
        return self


class Services(Section):
    manager: Literal["auto", "systemd", "process"] = D("auto", description="auto: systemd when PID 1 is systemd")
    start: Bool = D(True, description="start the gateway and the hub, then check them")


class Site(Section):
    """Roles on separate hosts (jeg_wizard.roles): left out, everything runs on this host."""

    gateway_host: OptSiteHost = D(
        "",
        description="the gateway host as the hub host reaches it (JEG, kernels, the Spark master); empty: all on one host",
    )
    hub_host: OptSiteHost = D("", description="the hub host's address (JupyterHub, the proxy, the user servers)")
    worker_hosts: names(SiteHost) = D(
        [], description="Spark worker hosts (they join a standalone master on the gateway host)"
    )
    plain_http: Bool = D(
        False,
        description="true: the hub host talks to the gateway in plain HTTP (token and code in clear on the network)",
    )

    @property
    def split(self) -> bool:
        return bool(self.gateway_host or self.hub_host)

    @model_validator(mode="after")
    def _hosts(self) -> Site:
        if not self.split:
            for key in ("worker_hosts", "plain_http"):
                if getattr(self, key):
                    raise ValueError(
                        f"site.{key}: only used with site.gateway_host and site.hub_host (roles on separate hosts)"
                    )
            return self
        for key, other in (("gateway_host", "hub_host"), ("hub_host", "gateway_host")):
            if not getattr(self, key):
                raise ValueError(
                    f"site.{key}: is required when site.{other} is set: roles on separate hosts need both addresses "
                    f"(leave [site] out for everything on this host)"
                )
        if self.hub_host == self.gateway_host:
            raise ValueError(
                f"site.hub_host: must differ from site.gateway_host ({self.gateway_host}): the roles are on separate "
                f"hosts (leave [site] out for everything on this host)"
            )
        seen = {self.gateway_host: "site.gateway_host", self.hub_host: "site.hub_host"}
        for i, w in enumerate(self.worker_hosts):
            if w in seen:
                raise ValueError(f"site.worker_hosts: {w} (item {i + 1}) is already {seen[w]}; each host has one role")
            seen[w] = "in site.worker_hosts"
        return self


LOCAL_ACCOUNTS = (
    "how a signed-in user gets the local account the hub starts their server as: create (on first login, "
    "with adduser) or nss (it must already resolve through the name service: sssd, nslcd, winbind)"
)


def _one_secret(section: str, name: str, file: str, env: str, required: bool) -> None:
    """A secret comes from a 0600 file or a variable: one of the two (never the answers file)."""
    if file and env:
        raise ValueError(f"{section}.{name}_file: give {section}.{name}_file or {section}.{name}_env, not both")
    if required and not (file or env):
        raise ValueError(
            f"{section}.{name}_file: is required (or {section}.{name}_env): the {name.replace('_', ' ')} never sits "
            "in the answers file"
        )


class Ldap(Section):
    """hub.authenticator = "ldap": JupyterHub's LDAPAuthenticator, checked live before the switch."""

    url: LdapURL = D("", description="ldaps://HOST[:636] or ldap://HOST[:389] (with start_tls)")
    start_tls: Bool = D(False, description="ldap:// only: upgrade the connection with StartTLS")
    ca_file: OptAbsPath = D(
        "", description="the CA (PEM) the server's certificate is verified against; empty: the system's"
    )
    bind_dn_templates: names(Text) = D(
        [], description='bind as the user directly, e.g. ["uid={username},ou=people,dc=example,dc=org"]'
    )
    service_dn: Text = D("", description="or look users up with this service account (then user_search_base)")
    service_password_file: OptAbsPath = D("", description="the service account's password: a 0600 file")
    service_password_env: EnvName = D("", description="... or a variable holding it")
    user_search_base: Text = D("", description="with service_dn: where users are searched, e.g. ou=people,dc=...")
    user_attribute: Text = D("uid", description="the attribute holding the login name (uid; sAMAccountName on AD)")
    allowed_groups: names(Text) = D([], description="group DNs whose members may sign in; empty: every user found")
    admin_groups: names(Text) = D([], description="group DNs whose members are hub admins")
    local_accounts: Literal["create", "nss"] = D("create", description=LOCAL_ACCOUNTS)
    test_user: Text = D("", description="a directory account the checks sign in as (required)")
    test_password_file: OptAbsPath = D("", description="its password: a 0600 file")
    test_password_env: EnvName = D("", description="... or a variable holding it")
    timeout: Seconds(1, 60) = D(5.0, description="seconds each directory request may take")

    @model_validator(mode="after")
    def _complete(self) -> Ldap:
        if not self.url:
            raise ValueError("ldap.url: is required: ldaps://HOST[:PORT] or ldap://HOST[:PORT]")
        if self.start_tls and self.url.startswith("ldaps://"):
            raise ValueError("ldap.start_tls: only with ldap:// (an ldaps:// connection is TLS from the start)")
        if bool(self.service_dn) == bool(self.bind_dn_templates):
            raise ValueError(
                "ldap.service_dn: give either ldap.service_dn (search with a service account) or "
                "ldap.bind_dn_templates (bind as the user), one of the two"
            )
        if self.service_dn and not self.user_search_base:
            raise ValueError("ldap.user_search_base: is required with ldap.service_dn (where users are searched)")
        for t in self.bind_dn_templates:
            if "{username}" not in t:
                raise ValueError(f"ldap.bind_dn_templates: {show(t)} has no {{username}} placeholder")
        _one_secret(
            "ldap", "service_password", self.service_password_file, self.service_password_env, bool(self.service_dn)
        )
        if not self.service_dn and (self.service_password_file or self.service_password_env):
            raise ValueError("ldap.service_password_file: only used with ldap.service_dn")
        if not self.test_user:
            raise ValueError(
                "ldap.test_user: is required: a directory account the wizard signs in as before switching the hub "
                "(and the health checks after)"
            )
        if not re.fullmatch(USER_RX, self.test_user):
            raise ValueError(f"ldap.test_user: {USER_WHAT}, got {show(self.test_user)}")
        _one_secret("ldap", "test_password", self.test_password_file, self.test_password_env, True)
        return self


class Oidc(Section):
    """hub.authenticator = "oidc": OAuthenticator's generic OpenID Connect, checked live before the switch."""

    issuer: WebURL = D("", description="the provider's issuer URL (its /.well-known/openid-configuration is read)")
    client_id: Text = D("", description="the hub's client id at the provider")
    client_secret_file: OptAbsPath = D("", description="the client secret: a 0600 file")
    client_secret_env: EnvName = D("", description="... or a variable holding it")
    scopes: names(Text) = D(["openid", "profile", "email"], description="scopes asked for (add groups if needed)")
    username_claim: Text = D("preferred_username", description="the claim that becomes the hub (and local) user name")
    groups_claim: Text = D("groups", description="the claim listing the user's groups")
    allowed_groups: names(Text) = D(
        [], description="groups whose members may sign in; empty: every user of the provider"
    )
    admin_groups: names(Text) = D([], description="groups whose members are hub admins")
    local_accounts: Literal["create", "nss"] = D("create", description=LOCAL_ACCOUNTS)
    ca_file: OptAbsPath = D(
        "", description="the CA (PEM) the provider's certificate is verified against; empty: the system's"
    )
    timeout: Seconds(1, 60) = D(5.0, description="seconds each request to the provider may take")

    @model_validator(mode="after")
    def _complete(self) -> Oidc:
        if not self.issuer:
            raise ValueError(
                "oidc.issuer: is required: the provider's issuer URL, e.g. https://sso.example.org/realms/x"
            )
        if not self.client_id:
            raise ValueError("oidc.client_id: is required: the hub's client id at the provider")
        _one_secret("oidc", "client_secret", self.client_secret_file, self.client_secret_env, True)
        if "openid" not in self.scopes:
            raise ValueError(f"oidc.scopes: must contain openid (OpenID Connect), got {self.scopes}")
        return self


# keys whose value is, or may be, a secret: never echoed in a message (a typo in a hash is still a hash)
SECRET_VALUE_KEYS = frozenset({"admin_password_hash"})


def _secretish(key: str) -> bool:
    """A key (as written in the file, perhaps dotted or quoted) that may hold a secret; its _file and _env
    companions name a place, not the secret."""
    name = key.split(".")[-1].strip().strip("\"'")
    if name in SECRET_VALUE_KEYS or any(k[-1] == name for k in SECRET_KEYS):
        return True
    return bool(re.search(r"pass|secret|token|hash|cookie", name, re.I)) and not name.endswith(("_file", "_env"))


SECRET_KEYS = {
    ("gateway", "token"): "put the token in a 0600 file and set gateway.token_file (or leave it empty to generate one)",
    (
        "users",
        "admin_password",
    ): "use users.admin_password_env, users.admin_password_file (0600) or users.admin_password_hash",
    ("hub", "cookie_secret"): "the hub's cookie secret is generated into a 0600 file in system.state_dir",
    ("proxy", "auth_token"): "the proxy token is generated into a 0600 file in system.state_dir",
    ("ldap", "service_password"): "use ldap.service_password_file (0600) or ldap.service_password_env",
    ("ldap", "test_password"): "use ldap.test_password_file (0600) or ldap.test_password_env",
    ("oidc", "client_secret"): "use oidc.client_secret_file (0600) or oidc.client_secret_env",
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
    site: Site = Site()
    # only with hub.authenticator = ldap | oidc (None: left out, and a saved answers file leaves them out)
    ldap: Ldap | None = None
    oidc: Oidc | None = None

    @model_validator(mode="before")
    @classmethod
    def _split_defaults(cls, data: Any) -> Any:
        """Roles on separate hosts: the gateway listens on the gateway host's address and speaks TLS
        (generated CA) unless the answers say otherwise; site.plain_http = true makes the default off."""
        site = data.get("site") if isinstance(data, dict) else None
        gw = data.get("gateway", {}) if isinstance(data, dict) else None
        if (
            not isinstance(site, dict)
            or not isinstance(gw, dict)
            or not site.get("gateway_host")
            or not site.get("hub_host")
        ):
            return data
        add: dict[str, Any] = {}
        host = site["gateway_host"]
        if "ip" not in gw and isinstance(host, str):
            try:
                addr = ipaddress.ip_address(host)
            except ValueError:  # a name: all interfaces (the name's address is one of them)
                add["ip"] = "0.0.0.0" if re.fullmatch(HOST_RX, host) else None
            else:
                add["ip"] = host if not (addr.is_loopback or addr.is_unspecified) else None
        if "tls" not in gw:
            add["tls"] = "off" if site.get("plain_http") is True else "generate"
        add = {k: v for k, v in add.items() if v is not None}
        return {**data, "gateway": {**gw, **add}} if add else data

    @model_validator(mode="before")
    @classmethod
    def _scala_spark(cls, data: Any) -> Any:
        """kernels.scala picks the Spark line Toree runs on when spark.version is not given (a given one is
        checked by cross_checks)."""
        kernels = data.get("kernels") if isinstance(data, dict) else None
        spark = data.get("spark", {}) if isinstance(data, dict) else None
        if not isinstance(kernels, dict) or kernels.get("scala") is not True or not isinstance(spark, dict):
            return data
        if "version" in spark:
            return data
        return {**data, "spark": {**spark, "version": releases.TOREE_SPARK}}


# ---------------------------------------------------------------- loading and cross-field rules


def section_model(name: str) -> type[Section] | None:
    """The model of answers section `name` ([ldap] and [oidc] are optional: Ldap | None -> Ldap)."""
    field = Answers.model_fields.get(name)
    if field is None:
        return None
    kinds = [t for t in getattr(field.annotation, "__args__", (field.annotation,)) if t is not type(None)]
    return kinds[0] if kinds and isinstance(kinds[0], type) and issubclass(kinds[0], Section) else None


def section_values(a: Answers, name: str) -> dict:
    """A section's values; an optional section left out gives its defaults (unvalidated: it is not in use)."""
    value = getattr(a, name)
    return (value if value is not None else section_model(name).model_construct()).model_dump()


def dump(a: Answers) -> dict:
    """The answers as TOML data: an optional section left out stays out."""
    return a.model_dump(exclude_none=True)


def _unknown_key_message(loc: tuple, model: type[BaseModel]) -> str:
    """Did-you-mean for an unknown key at loc (walks the model to the parent section)."""
    parent: Any = model
    for i, part in enumerate(loc[:-1]):
        if i == 0 and parent is Answers:
            parent = section_model(part)
            continue
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


def _key(part: Any) -> str:
    """A key as a message names it: plain names as they are, anything odd (a newline, 5000 characters) quoted."""
    return part if isinstance(part, str) and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", part) else show(part, 40)


def _format(err: ValidationError) -> list[str]:
    out = []
    for e in err.errors():
        loc = tuple(e["loc"])
        items = [p for p in loc if isinstance(p, int)]  # a list's item: named after the message
        keys = tuple(_key(p) for p in loc if not isinstance(p, int))
        path = ".".join(keys)
        if e["type"] == "extra_forbidden":
            secret_hint = SECRET_KEYS.get(tuple(loc[-2:])) if len(loc) >= 2 else None
            if secret_hint:
                out.append(f"{path}: secrets are not kept in the answers file in clear; {secret_hint}")
            else:
                out.append(_unknown_key_message(keys, Answers))
            continue
        msg = e["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if e["type"] == "literal_error":
            allowed = e.get("ctx", {}).get("expected", "")
            msg = f"must be one of {allowed}, got {show(e.get('input'))}"
        elif e["type"] in (
            "int_parsing",
            "int_type",
            "float_parsing",
            "float_type",
            "bool_type",
            "bool_parsing",
            "string_type",
            "list_type",
            "model_type",
            "greater_than_equal",
            "less_than_equal",
            "int_from_float",
            "finite_number",
            "too_long",
            "dict_type",
            "model_attributes_type",
        ):
            msg = f"{msg[0].lower()}{msg[1:]}, got {show(e.get('input'))}"
        given = e.get("input")
        if keys and _secretish(keys[-1]) and isinstance(given, str) and given:
            msg = msg.replace(show(given), MASK).replace(given, MASK)  # a typo in a hash is still a hash
        if items:
            msg += f" (item {items[-1] + 1})"
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
    standalone = standalone_master(a.spark.master)
    if standalone:
        ports["spark.master_webui_port"] = a.spark.master_webui_port
        ports["spark.worker_webui_port"] = a.spark.worker_webui_port
        ports["spark.master (port)"] = standalone[1]
    seen: dict[int, str] = {}
    for key, port in ports.items():
        if port in seen:
            problems.append(f"{key}: port {port} is already used by {seen[port]}; every service needs its own port")
        else:
            seen[port] = key
    dist = dist or distro.detect()
    problems += distro.spark_java_problems(a.spark.version, a.java.version, dist)
    shipped = dist.apt_java
    if a.kernels.scala and shipped is not None and not set(shipped) & set(distro.spark_javas(a.spark.version)):
        problems.append(
            f"kernels.scala: the Scala kernel runs on Spark 3.x, which needs Java "
            f"{' or '.join(map(str, distro.spark_javas(a.spark.version)))}, and {dist.pretty} ships only Java "
            f"{', '.join(map(str, shipped))}: set kernels.scala = false here"
        )
    problems += _account_problems(a)
    problems += _site_problems(a)
    problems += _signin_problems(a)
    problems += _kernel_problems(a)
    problems += _place_problems(a)
    rng = port_range(a.gateway.port_range)
    if rng:
        inside = [f"{k} ({p})" for k, p in ports.items() if rng[0] <= p <= rng[1]]
        if inside:
            problems.append(
                f"gateway.port_range: {a.gateway.port_range} covers {', '.join(inside)}; a kernel could take "
                f"that port; choose a range outside our service ports"
            )
    return problems


def _site_problems(a: Answers) -> list[str]:
    """Roles on separate hosts: the hub host must reach the gateway (its address, TLS unless told
    plain), and a standalone master runs on the gateway host for the workers to join."""
    s, g = a.site, a.gateway
    if not s.split:
        return []
    out = []
    gw_ip = ipaddress.ip_address(g.ip)
    if gw_ip.is_loopback:
        out.append(
            f"gateway.ip: {g.ip} is loopback: the hub host ({s.hub_host}) cannot reach the gateway on "
            f"{s.gateway_host}; leave gateway.ip out (it becomes site.gateway_host), or give 0.0.0.0 or {s.gateway_host}"
        )
    elif not gw_ip.is_unspecified and _is_ip(s.gateway_host) and g.ip != s.gateway_host:
        out.append(
            f"gateway.ip: {g.ip} is not site.gateway_host ({s.gateway_host}), where the hub host connects; "
            f"leave gateway.ip out, or give 0.0.0.0 or {s.gateway_host}"
        )
    if g.tls == "off" and not s.plain_http:
        out.append(
            "gateway.tls: 'off' would send the gateway token and every notebook's code in clear between the hub "
            "host and the gateway host; leave it out (generate: a private CA) or set site.plain_http = true "
            "to accept plain HTTP"
        )
    if s.plain_http and g.tls != "off":
        out.append(
            f"site.plain_http: true asks for plain HTTP between the hosts but gateway.tls is '{g.tls}'; "
            "choose one (leave gateway.tls out with plain_http = true)"
        )
    master = standalone_master(a.spark.master)
    if s.worker_hosts and not master:
        out.append(
            f"site.worker_hosts: Spark workers join a standalone master; spark.master is {show(a.spark.master)}: "
            f'set spark.master = "spark://{s.gateway_host}:7077" (the master runs on the gateway host) or leave '
            "site.worker_hosts empty"
        )
    if master and master[0] != s.gateway_host:
        out.append(
            f"spark.master: the standalone master runs on the gateway host: spark://{s.gateway_host}:{master[1]}, "
            f"got {show(a.spark.master)}"
        )
    if g.impersonation:
        out.append(
            "gateway.impersonation: not available with roles on separate hosts: kernels would run on the gateway "
            "host as hub users, whose accounts exist on the hub host only; set it to false"
        )
    return out


def _place_problems(a: Answers) -> list[str]:
    """Each place of ours is its own: two answers naming one directory, or one inside a place the install
    removes and makes again (a venv, Spark's tree, a kernelspec), would lose the other's files."""
    from .layout import Layout

    L = Layout(a)
    rebuilt = {
        "gateway.venv": L.gateway_venv,
        "hub.venv": L.hub_venv,
        "kernels.venv": L.kernel_venv,
        "proxy.prefix": L.proxy_prefix,
        "spark.version": L.spark_dir,
        **{f"kernels.dir ({d.name})": d for d in L.kernel_dirs},
    }
    if a.hub.gateway_client == "nb2kg":
        rebuilt["hub.gateway_client (nb2kg's venv)"] = L.nb2kg_venv
    places = {
        "system.state_dir": Path(a.system.state_dir),
        "system.log_dir": Path(a.system.log_dir),
        "hub.config_dir": Path(a.hub.config_dir),
        "kernels.dir": Path(a.kernels.dir),
        "spark.home": L.spark_link,
        "environment.file": Path(a.environment.file),
        **rebuilt,
    }
    out = []
    for key, path in places.items():
        for other, there in places.items():
            if other == key:
                break  # each pair once, named by the later key
            if path == there:
                out.append(f"{key}: {path} is also {other}; each needs a place of its own")
            elif there in rebuilt.values() and there in path.parents:
                out.append(f"{key}: {path} is inside {other} ({there}), which the install removes and makes again")
            elif path in rebuilt.values() and path in there.parents:
                out.append(f"{other}: {there} is inside {key} ({path}), which the install removes and makes again")
    return out


def _signin_problems(a: Answers) -> list[str]:
    """The chosen authenticator has its section; its live check is the gate's (jeg_wizard.signin)."""
    kind = a.hub.authenticator
    if kind != "pam" and getattr(a, kind) is None:
        return [
            f"{kind}: the [{kind}] section is required when hub.authenticator = '{kind}' (see answers.example.toml)"
        ]
    if kind == "oidc" and a.site.split:
        return ["hub.authenticator: 'oidc' is not available with roles on separate hosts yet; use pam or ldap"]
    return []


def _kernel_problems(a: Answers) -> list[str]:
    """Toree 0.5 is Scala 2.12: Spark 3.x only (4.x is Scala 2.13, 2.4 is 2.11)."""
    from .layout import R_KERNEL, SCALA_KERNEL

    for wanted, name in ((a.kernels.scala, SCALA_KERNEL), (a.kernels.r, R_KERNEL)):
        if wanted and a.kernels.name == name:
            key = "kernels.scala" if name == SCALA_KERNEL else "kernels.r"
            return [f"kernels.name: '{name}' is the kernelspec of {key}; choose another name for the Python kernel"]
    if a.kernels.scala and not a.spark.version.startswith("3."):
        return [
            f"kernels.scala: the Scala kernel (Apache Toree 0.5, Scala 2.12) runs on Spark 3.x only, and "
            f"spark.version is {a.spark.version} (Scala {'2.13' if int(a.spark.version.split('.')[0]) >= 4 else '2.11'}); set "
            f'spark.version = "{releases.TOREE_SPARK}" (or leave it out), or kernels.scala = false'
        ]
    return []


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _account_problems(a: Answers) -> list[str]:
    """One rule for every list of hub users: root and the gateway's own user never log in, and a user
    who may log in is not also one the gateway refuses (machine facts, system accounts: preflight)."""
    out = []
    if a.gateway.user == a.users.admin:
        out.append(
            f"gateway.user: must not be the hub admin '{a.users.admin}' (its kernels could read the gateway's token)"
        )
    if a.users.admin in a.gateway.unauthorized_users:
        out.append(
            f"gateway.unauthorized_users: contains the hub admin '{a.users.admin}', who could then never start a kernel"
        )
    for i, u in enumerate(a.users.allowed):
        if u == "root":
            out.append(
                f"users.allowed: must not contain root (item {i + 1}): the gateway refuses kernels for root "
                f"and the hub should not log root in"
            )
        elif u == a.gateway.user and u != a.users.admin:
            out.append(
                f"users.allowed: must not contain the gateway's own user '{u}' (item {i + 1}): its kernels "
                f"could read the gateway's token"
            )
        elif u in a.gateway.unauthorized_users:
            out.append(
                f"users.allowed: '{u}' (item {i + 1}) is also in gateway.unauthorized_users: it could log in "
                f"but never start a kernel; remove it from one of the two lists"
            )
    return out


def parse(data: dict, dist: distro.Distro | None = None) -> Answers:
    try:
        a = Answers.model_validate(data)
    except ValidationError as err:
        raise AnswersError(_format(err)) from None
    except RecursionError:
        raise AnswersError(["values nested too deeply"]) from None
    problems = cross_checks(a, dist)
    if problems:
        raise AnswersError(problems)
    return a


ANSWERS_MAX = 1 << 20  # an answers file is a few KiB; more is a mistake (or /dev/zero)


def _shown(path: str) -> str:
    """A file name as messages show it: as given, unless it holds control characters or is absurdly long."""
    if path.isprintable() and len(path) <= 512:
        return path
    return show(path, 120)


def read_regular(path: str | Path, what: str, limit: int = ANSWERS_MAX) -> tuple[bytes, int]:
    """(content, mode) of a regular file of at most limit bytes; never blocks on a FIFO or reads a device.

    Raises AnswersError naming the file and what is wrong with it."""
    p = str(path)
    if not p:
        raise AnswersError([f"{what}: an empty path was given; give the path of a file"])
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
    except (OSError, ValueError) as e:
        raise AnswersError([f"{_shown(p)}: cannot read the {what}: {getattr(e, 'strerror', None) or e}"]) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise AnswersError([f"{_shown(p)}: cannot read the {what}: Is a directory"])
        if not stat.S_ISREG(st.st_mode):
            raise AnswersError([f"{_shown(p)}: cannot read the {what}: not a regular file (a pipe, socket or device)"])
        if st.st_size > limit:
            raise AnswersError([f"{_shown(p)}: cannot read the {what}: too big ({st.st_size} bytes; at most {limit})"])
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise AnswersError([f"{_shown(p)}: cannot read the {what}: too big (more than {limit} bytes)"])
        return b"".join(chunks), stat.S_IMODE(st.st_mode)
    except OSError as e:
        raise AnswersError([f"{_shown(p)}: cannot read the {what}: {e.strerror}"]) from None
    finally:
        os.close(fd)


def load_data(path: str | Path) -> tuple[dict, int]:
    """The answers file's TOML as a dict, and the file's mode; AnswersError for anything that is not."""
    raw, mode = read_regular(path, "answers file")
    p = _shown(str(path))
    if raw.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte-order mark: TOML allows it
        raw = raw[3:]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise AnswersError([f"{p}: not UTF-8 text"]) from None
    try:
        return tomllib.loads(text), mode
    except tomllib.TOMLDecodeError as e:
        raise AnswersError([f"{p}: not valid TOML: {e}{_toml_where(text, str(e))}"]) from None
    except RecursionError:
        raise AnswersError([f"{p}: not valid TOML here: arrays or tables nested too deeply"]) from None


def load(path: str | Path, dist: distro.Distro | None = None) -> Answers:
    data, mode = load_data(path)
    p = _shown(str(path))
    held = _secrets_held(data)
    loose = (
        [f"{held[0]}: {p} holds a secret and is readable by group or others (mode {mode:o}); run: chmod 600 {p}"]
        if held and mode & 0o077
        else []
    )
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
    """'; line N (in [table]): <the line>' so a syntax error names the key it is about. Only a table header, a
    comment or a key = value line is echoed, and a secret's value never (the file may be no answers file at all)."""
    m = re.search(r"at line (\d+)", err)
    lines = text.splitlines()
    if not m or not 1 <= int(m.group(1)) <= len(lines):
        return ""
    n = int(m.group(1))
    here = lines[n - 1].strip()
    kv = re.match(r"""([A-Za-z0-9_.\-"' ]{1,80}?)\s*=""", here)
    if kv and _secretish(kv.group(1)):
        here = f"{kv.group(1)} = {MASK}"
    elif not kv and not re.fullmatch(r"""\[\[?[A-Za-z0-9_.\-"' ]*\]?\]?\s*(#.*)?|#.*""", here):
        here = "(not shown: no key = value line)"
    if not here.isprintable() or len(here) > 120:  # never echo control characters (or a megabyte) to the terminal
        here = show(here, 120)
    table = (
        ""
        if here.startswith("[")
        else next((ln.strip() for ln in reversed(lines[: n - 1]) if re.match(r"\s*\[", ln)), "")
    )
    return f"; line {n}{f' (in {table})' if table else ''}: {here}"
