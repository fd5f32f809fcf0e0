"""The Questions form as data: which answer keys it asks, grouped like the README's sections, and
the round trip form values -> dict -> `answers.parse` -> problems routed back to their fields.
No textual here, so the rules are the answers file's own and testable without a screen."""

from __future__ import annotations

import pwd
import re
from dataclasses import dataclass
from typing import Any, Literal

from .. import distro
from ..answers import Answers, AnswersError, parse, section_model, section_values

Kind = Literal["text", "int", "float", "bool", "choice", "list", "password"]


@dataclass(frozen=True)
class Field:
    path: str  # "gateway.port"; the wizard-only password fields use "users.admin_password(_confirm)"
    label: str
    kind: Kind = "text"
    help: str = ""
    choices: tuple[str, ...] = ()
    advanced: bool = False  # under "More settings" (collapsed): README defaults rarely change

    @property
    def section(self) -> str:
        return self.path.split(".", 1)[0]

    @property
    def key(self) -> str:
        return self.path.split(".", 1)[1]

    @property
    def widget_id(self) -> str:
        return "f-" + self.path.replace(".", "-")


@dataclass(frozen=True)
class Group:
    name: str  # the answers section
    title: str  # as the README names the stage
    fields: tuple[Field, ...]


PASSWORD = "users.admin_password"
CONFIRM = "users.admin_password_confirm"
WIZARD_ONLY = {PASSWORD, CONFIRM}  # never written to the answers file
OPTIONAL_SECTIONS = ("ldap", "oidc")

F = Field
GROUPS: tuple[Group, ...] = (
    Group(
        "system",
        "System: apt update / upgrade",
        (
            F("system.prefix", "Install prefix", help="Spark and the venvs (<prefix>/jeg/...) go here"),
            F("system.apt_update", "apt update", "bool", "refresh package lists (skipped when every package is there)"),
            F(
                "system.apt_upgrade",
                "apt upgrade",
                "bool",
                "README: sudo apt upgrade; off by default on a production box",
            ),
            F("system.state_dir", "State directory", help="root-only: secrets, journal, backups", advanced=True),
            F("system.log_dir", "Log directory", help="install.log, gateway.log, hub.log", advanced=True),
            F("system.python", "Python for venvs", help="the distribution's python builds the venvs", advanced=True),
        ),
    ),
    Group(
        "java",
        "Java",
        (
            F(
                "java.version",
                "Java version",
                "choice",
                "Spark 4.x needs 17 or 21; Debian 12 ships 17",
                tuple(map(str, distro.JAVA_VERSIONS)),
            ),
            F("java.home", "JAVA_HOME", help="empty: /usr/lib/jvm/java-<version>-openjdk-<arch>", advanced=True),
        ),
    ),
    Group(
        "spark",
        "Spark to /opt + symlink",
        (
            F(
                "spark.source",
                "Spark from",
                "choice",
                "pypi | apache | url | tarball",
                ("pypi", "apache", "url", "tarball"),
            ),
            F("spark.version", "Spark version", help="a release like 4.3.0 or 3.5.3"),
            F("spark.master", "Spark master", help="local[*] | local[N] | spark://HOST:PORT (started here) | yarn"),
            F("spark.url", "Tarball URL", help="with source = url: http(s):// or file:// URL", advanced=True),
            F("spark.tarball", "Local tarball", help="with source = tarball: absolute path of a .tgz", advanced=True),
            F("spark.sha512", "sha512", help="checksum of the tarball; fetched for apache when empty", advanced=True),
            F(
                "spark.hadoop",
                "Hadoop suffix",
                "choice",
                "spark-<version>-bin-hadoop<suffix>.tgz",
                ("2.7", "3", "3.2"),
                advanced=True,
            ),
            F("spark.home", "Spark symlink", help="empty: <prefix>/spark", advanced=True),
            F(
                "spark.cores_max",
                "cores.max",
                "int",
                "spark.cores.max per kernel on a standalone cluster",
                advanced=True,
            ),
            F("spark.driver_memory", "Driver memory", help="each kernel's driver, like 1g", advanced=True),
            F("spark.executor_memory", "Executor memory", help="each executor of a kernel, like 1g", advanced=True),
            F("spark.executor_cores", "Executor cores", "int", "cores of each executor of a kernel", advanced=True),
            F("spark.master_webui_port", "Master UI port", "int", "standalone master web UI", advanced=True),
            F(
                "spark.worker_webui_port",
                "Worker UI port",
                "int",
                "standalone worker web UI (not 8081: the hub's)",
                advanced=True,
            ),
        ),
    ),
    Group(
        "environment",
        "/etc/environment",
        (
            F("environment.file", "Environment file", help="we own only a marked block in it"),
            F("environment.pyspark_python", "PYSPARK_PYTHON", help="empty: the kernel venv's python", advanced=True),
        ),
    ),
    Group(
        "kernels",
        "Kernelspecs",
        (
            F("kernels.name", "Kernel name", help="letters, digits, . _ -"),
            F("kernels.display_name", "Display name", help="what JupyterLab's launcher shows"),
            F("kernels.spark_opts", "spark-submit options", help='extra options, e.g. "--driver-memory 2g"'),
            F("kernels.scala", "Scala kernel", "bool", "Apache Toree (Scala 2.12): Spark becomes 3.5 unless given"),
            F("kernels.r", "R kernel", "bool", "IRkernel from apt; PyPI's Spark has no SparkR: R without Spark"),
            F("kernels.dir", "Kernelspec dir", help="a kernels/ directory on the JUPYTER_PATH", advanced=True),
            F("kernels.venv", "Kernel venv", help="empty: <prefix>/jeg/kernel", advanced=True),
        ),
    ),
    Group(
        "gateway",
        "Jupyter Enterprise Gateway",
        (
            F("gateway.ip", "Gateway IP", help="all-in-one: loopback; two hosts: an address the hub host reaches"),
            F("gateway.port", "Gateway port", "int", "1-65535"),
            F(
                "gateway.kernel_launch_timeout",
                "Kernel start timeout",
                "int",
                "seconds a Spark kernel may take (10-3600)",
            ),
            F(
                "gateway.request_timeout",
                "Request timeout",
                "float",
                "must exceed the kernel start timeout",
                advanced=True,
            ),
            F(
                "gateway.list_kernels",
                "List kernels",
                "bool",
                "JupyterLab polls /api/kernels and breaks on 403",
                advanced=True,
            ),
            F(
                "gateway.unauthorized_users",
                "Refused users",
                "list",
                "comma-separated; root is refused by default",
                advanced=True,
            ),
            F(
                "gateway.user",
                "Kernel user",
                help="kernels run as this unprivileged user (created); not the admin",
                advanced=True,
            ),
            F(
                "gateway.token_file",
                "Token file",
                help="empty: <state_dir>/secrets/gateway-token, generated (0600)",
                advanced=True,
            ),
            F(
                "gateway.impersonation",
                "Kernels as hub user",
                "bool",
                "the gateway runs as root and trusts KERNEL_USERNAME from its token holders",
                advanced=True,
            ),
            F(
                "gateway.tls",
                "TLS to the gateway",
                "choice",
                "loopback: off is fine; two hosts: generate (a private CA, recommended) or files",
                ("off", "generate", "files"),
                advanced=True,
            ),
            F(
                "gateway.tls_names",
                "Certificate names",
                "list",
                "generate: more DNS names/IPs clients use",
                advanced=True,
            ),
            F("gateway.tls_cert", "Gateway certificate", help="files: PEM certificate (chain after it)", advanced=True),
            F("gateway.tls_key", "Gateway key", help="files: its private key, mode 0600", advanced=True),
            F("gateway.tls_ca", "Gateway CA", help="files: the CA user servers verify against", advanced=True),
            F(
                "gateway.unauthorized_groups",
                "Refused groups",
                "list",
                "members are refused kernels (sudo, wheel)",
                advanced=True,
            ),
            F("gateway.max_kernels", "Max kernels", "int", "running kernels in all; 0: no limit", advanced=True),
            F("gateway.max_kernels_per_user", "Max per user", "int", "0: no limit", advanced=True),
            F(
                "gateway.cull_idle_timeout",
                "Idle kernel cull",
                "int",
                "seconds idle before shutdown; 0: never",
                advanced=True,
            ),
            F(
                "gateway.port_range",
                "Kernel port range",
                help='"40000..41000" (>= 1000 ports); empty: any',
                advanced=True,
            ),
            F("gateway.venv", "Gateway venv", help="empty: <prefix>/jeg/gateway", advanced=True),
        ),
    ),
    Group(
        "proxy",
        "node + configurable-http-proxy",
        (
            F("proxy.version", "Proxy version", help="auto: 5.3.0 on node >= 20, else 4.6.3"),
            F("proxy.api_port", "Proxy API port", "int", "1-65535"),
            F("proxy.api_ip", "Proxy API IP", help="the proxy's REST API", advanced=True),
            F("proxy.prefix", "Proxy prefix", help="empty: <prefix>/jeg/proxy", advanced=True),
        ),
    ),
    Group(
        "hub",
        "JupyterHub + Notebook + JupyterLab",
        (
            F("hub.ip", "Hub IP", help="the public address users open in a browser (0.0.0.0: all)"),
            F("hub.port", "Hub port", "int", "1-65535"),
            F("hub.default_url", "Opens on", "choice", "JupyterLab or the classic tree", ("/lab", "/tree")),
            F(
                "hub.authenticator",
                "Sign in with",
                "choice",
                "pam: local accounts; ldap / oidc: their settings below; checked live before the switch",
                ("pam", "ldap", "oidc"),
            ),
            F(
                "hub.public_url",
                "Hub public URL",
                help="what browsers open; empty: http(s)://<host name>:<port>",
                advanced=True,
            ),
            F("hub.hub_port", "Hub API port", "int", "the hub's internal API (user servers call it)", advanced=True),
            F("hub.hub_ip", "Hub API IP", help="a concrete address user servers reach", advanced=True),
            F("hub.config_dir", "Config dir", help="jupyterhub_config.py and the gateway config", advanced=True),
            F(
                "hub.gateway_client",
                "Gateway client",
                "choice",
                "builtin: jupyter_server's GatewayClient; nb2kg: the classic notebook 5.7 (Python 3.10-3.11)",
                ("builtin", "nb2kg"),
                advanced=True,
            ),
            F("hub.venv", "Hub venv", help="empty: <prefix>/jeg/hub", advanced=True),
            F("hub.tls_cert", "HTTPS certificate", help="HTTPS on the public port (with the key)", advanced=True),
            F("hub.tls_key", "HTTPS key", help="its private key, mode 0600", advanced=True),
            F("hub.tls_ca", "HTTPS CA", help="a private CA for the health checks; empty: system CAs", advanced=True),
        ),
    ),
    Group(
        "ldap",
        "Sign-in with a directory (hub.authenticator = ldap)",
        (
            F("ldap.url", "LDAP server", help="ldaps://HOST[:636] or ldap://HOST[:389]", advanced=True),
            F("ldap.start_tls", "StartTLS", "bool", "ldap:// only: upgrade the connection to TLS", advanced=True),
            F("ldap.ca_file", "LDAP CA file", help="PEM; empty: the system's CAs", advanced=True),
            F(
                "ldap.bind_dn_templates",
                "Bind DN templates",
                "list",
                "e.g. uid={username},ou=people,dc=example,dc=org",
                advanced=True,
            ),
            F("ldap.service_dn", "Service account DN", help="or search users with this account", advanced=True),
            F("ldap.service_password_file", "Service pw file", help="a 0600 file", advanced=True),
            F("ldap.service_password_env", "Service pw env var", help="or a variable holding it", advanced=True),
            F(
                "ldap.user_search_base",
                "User search base",
                help="with a service account: e.g. ou=people,dc=...",
                advanced=True,
            ),
            F("ldap.user_attribute", "User attribute", help="uid; sAMAccountName on Active Directory", advanced=True),
            F("ldap.allowed_groups", "Allowed groups", "list", "group DNs; empty: every directory user", advanced=True),
            F("ldap.admin_groups", "Admin groups", "list", "group DNs whose members are hub admins", advanced=True),
            F(
                "ldap.local_accounts",
                "Local accounts",
                "choice",
                "create at first login, or resolved by NSS",
                ("create", "nss"),
                advanced=True,
            ),
            F("ldap.test_user", "Test user", help="a directory account the checks sign in as", advanced=True),
            F("ldap.test_password_file", "Test pw file", help="a 0600 file", advanced=True),
            F("ldap.test_password_env", "Test pw env var", help="or a variable holding it", advanced=True),
        ),
    ),
    Group(
        "oidc",
        "Sign-in with OpenID Connect (hub.authenticator = oidc)",
        (
            F(
                "oidc.issuer",
                "OIDC issuer",
                help="the provider's issuer URL (discovery is read from it)",
                advanced=True,
            ),
            F("oidc.client_id", "Client id", help="the hub's client at the provider", advanced=True),
            F("oidc.client_secret_file", "Client secret file", help="a 0600 file", advanced=True),
            F("oidc.client_secret_env", "Secret env var", help="or a variable holding it", advanced=True),
            F("oidc.scopes", "Scopes", "list", "openid first; add groups if the provider needs it", advanced=True),
            F("oidc.username_claim", "Username claim", help="becomes the hub and local user name", advanced=True),
            F("oidc.groups_claim", "Groups claim", help="the claim listing the user's groups", advanced=True),
            F("oidc.allowed_groups", "Allowed groups", "list", "empty: every user of the provider", advanced=True),
            F("oidc.admin_groups", "Admin groups", "list", "members are hub admins", advanced=True),
            F(
                "oidc.local_accounts",
                "Local accounts",
                "choice",
                "create at first login, or resolved by NSS",
                ("create", "nss"),
                advanced=True,
            ),
            F("oidc.ca_file", "Provider CA file", help="PEM; empty: the system's CAs", advanced=True),
        ),
    ),
    Group(
        "users",
        "Admin user (adduser hubadmin)",
        (
            F("users.admin", "Admin user", help="PAM user and hub admin (not root)"),
            F(PASSWORD, "Admin password", "password", "typed here, never saved; empty: keep the current one"),
            F(CONFIRM, "Password again", "password", "the same password once more"),
            F("users.allowed", "Other users", "list", "comma-separated PAM users allowed to log in"),
            F(
                "users.admin_password_env",
                "Password env var",
                help="for unattended runs: a variable holding it",
                advanced=True,
            ),
            F(
                "users.admin_password_file",
                "Password file",
                help="for unattended runs: a 0600 file holding it",
                advanced=True,
            ),
            F(
                "users.admin_password_hash",
                "Password hash",
                help="a crypt hash ($6$...) instead of a password",
                advanced=True,
            ),
        ),
    ),
    Group(
        "services",
        "Start the services",
        (
            F(
                "services.manager",
                "Service manager",
                "choice",
                "auto: systemd when PID 1 is systemd",
                ("auto", "systemd", "process"),
            ),
            F("services.start", "Start services", "bool", "start the gateway and the hub, then check them"),
        ),
    ),
)
del F


def _known(f: Field) -> bool:
    """Only keys the answers model has (the wizard-only password fields aside)."""
    if f.path in (PASSWORD, CONFIRM):
        return True
    section = section_model(f.section)
    return section is not None and f.key in section.model_fields


GROUPS = tuple(Group(g.name, g.title, tuple(f for f in g.fields if _known(f))) for g in GROUPS)
FIELDS: dict[str, Field] = {f.path: f for g in GROUPS for f in g.fields}


def initial_values(a: Answers) -> dict[str, Any]:
    """Form values from answers: text fields as strings, lists joined, bools as bools."""
    dump = {name: section_values(a, name) for name in Answers.model_fields}
    out: dict[str, Any] = {}
    for path, f in FIELDS.items():
        if path in WIZARD_ONLY:
            out[path] = ""
            continue
        v = dump[f.section][f.key]
        if f.kind == "bool":
            out[path] = bool(v)
        elif f.kind == "list":
            out[path] = ", ".join(v)
        elif f.kind == "float":
            out[path] = f"{v:g}"
        else:
            out[path] = str(v)
    return out


def to_data(values: dict[str, Any], base: Answers | None = None) -> dict:
    """The answers-file dict for these form values (keys the form does not ask keep base's values)."""
    base = base or Answers()
    data = {name: section_values(base, name) for name in Answers.model_fields}
    for path, v in values.items():
        f = FIELDS.get(path)
        if f is None or path in WIZARD_ONLY:
            continue
        if f.kind == "list":
            v = [s.strip() for s in str(v).replace("\n", ",").split(",") if s.strip()]
        elif f.kind == "text" or f.kind == "choice":
            v = str(v).strip()
            if f.path == "java.version":
                v = int(v) if v.isdigit() else v
        elif f.kind in ("int", "float"):
            # the answers are strict (no "8888" for 8888): a typed number becomes one; anything else goes
            # through as typed and is reported with its key
            v = str(v).strip()
            if re.fullmatch(r"-?[0-9]{1,12}", v):
                v = int(v)
            elif f.kind == "float" and re.fullmatch(r"-?[0-9]{1,12}\.[0-9]{1,12}", v):
                v = float(v)
        data[f.section][f.key] = v
    if data["kernels"].get("scala") is True and data["spark"].get("version") == Answers().spark.version:
        del data["spark"]["version"]  # the default one: the Scala kernel chooses its Spark line (answers)
    for name in OPTIONAL_SECTIONS:  # [ldap] / [oidc]: left out while nothing in them was given
        untouched = data[name] == section_model(name).model_construct().model_dump()
        if untouched and data["hub"].get("authenticator") != name and getattr(base, name) is None:
            del data[name]
    return data


def password_problems(values: dict[str, Any], admin_exists: bool | None = None) -> list[str]:
    pw, again = values.get(PASSWORD, ""), values.get(CONFIRM, "")
    problems = []
    if pw and len(pw) < 8:
        problems.append(f"{PASSWORD}: must be at least 8 characters (the hub is reachable from the network)")
    if pw != again:
        problems.append(f"{CONFIRM}: does not match the password")
    other = any(values.get(f"users.admin_password_{k}") for k in ("env", "file", "hash"))
    if not pw and not other:
        exists = admin_exists if admin_exists is not None else user_exists(str(values.get("users.admin", "")))
        if not exists:
            problems.append(
                f"{PASSWORD}: {values.get('users.admin')} does not exist here yet: give a password "
                "so the admin can log in"
            )
    return problems


def user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def validate(
    values: dict[str, Any],
    base: Answers | None = None,
    dist: distro.Distro | None = None,
    admin_exists: bool | None = None,
) -> tuple[Answers | None, list[str]]:
    """Answers when valid, else every problem (each starts with its key path)."""
    problems: list[str] = []
    answers = None
    try:
        answers = parse(to_data(values, base), dist)
    except AnswersError as e:
        problems += e.problems
    else:
        from .. import machine

        problems += machine.problems(answers)  # what cannot work here: the same gate as the command line
    problems += password_problems(values, admin_exists)
    return (answers if not problems else None), problems


def route(problems: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]], list[str]]:
    """Problems by field path, by section (cross-field rules naming only a section), and the rest.

    A problem belongs to the longest field path it starts with ("spark.master (port): ..." too)."""
    by_field: dict[str, list[str]] = {}
    by_section: dict[str, list[str]] = {}
    rest: list[str] = []
    paths = sorted(FIELDS, key=len, reverse=True)
    sections = {g.name for g in GROUPS}
    for p in problems:
        head = p.split(":", 1)[0]
        target = next((path for path in paths if head == path or head.startswith(path + " ")), None)
        if target:
            by_field.setdefault(target, []).append(p[len(head) + 1 :].strip() or p)
        elif head in sections:
            by_section.setdefault(head, []).append(p[len(head) + 1 :].strip())
        else:
            rest.append(p)
    return by_field, by_section, rest
