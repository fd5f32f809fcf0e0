"""The vocabulary of answer values: each kind of value (path, directory we own, port, address, user
name, kernel name, version, URL, secret reference...) defined once, strictly, and used by every key.

Rules every string follows: no control or format characters (a newline or a U+2028 could end a comment
in a rendered config), bounded length, patterns matched in full (re.fullmatch: `$` accepts a trailing
newline), ASCII where the consumer (shell, systemd, /etc/environment, PATH-like lists) needs it.
Numbers and booleans are strict: no bool for an int, no "8888" for 8888.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BeforeValidator, Field, Strict

from .answers_base import CONTROL_CATEGORIES, control_char, standalone_master  # noqa: F401 - values.* callers

PATH_MAX = 4096
NAME_MAX = 255
TEXT_MAX = 1024  # free text (a display name, spark-submit options)
LIST_MAX = 256  # items in a list of names


def show(v: object, limit: int = 60) -> str:
    """A value as an error message shows it: repr, credentials in URLs masked, long values shortened."""
    if isinstance(v, str):
        v = mask_url(v)
    r = repr(v)
    return r if len(r) <= limit else f"{r[: limit - 12]}…{r[-10:]} ({len(r)} characters)"


def mask_url(v: str) -> str:
    """user:password@ in a URL (anywhere in the string) shown as ***@."""
    return re.sub(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/@\s]*@", r"\1***@", v)


# ---------------------------------------------------------------- the rule every string follows


# control_char and standalone_master live in answers_base (no pydantic there): the paths that read the
# validated answers without the model use them too


def _text(v: object) -> str:
    if not isinstance(v, str):
        raise ValueError(f"must be a string (in quotes), got {show(v)}")
    found = control_char(v)
    if found:
        raise ValueError(f"must not contain control characters (U+{ord(found[1]):04X} at position {found[0] + 1})")
    return v


def _bounded(limit: int):
    def check(v: str) -> str:
        if len(v.encode("utf-8")) > limit:
            raise ValueError(f"is too long ({len(v.encode('utf-8'))} bytes; at most {limit})")
        return v

    return check


Text = Annotated[str, BeforeValidator(_text), AfterValidator(_bounded(TEXT_MAX))]


def _pattern(rx: str, what: str, limit: int = NAME_MAX, secret: bool = False):
    compiled = re.compile(rx)

    def check(v: str) -> str:
        _bounded(limit)(v)
        if not compiled.fullmatch(v):  # a secret's typo is still most of the secret: not shown
            raise ValueError(f"{what}, got {f'{len(v)} characters that are not one' if secret else show(v)}")
        return v

    return check


def _optional(check):
    """An empty string means "the default" (derived from other answers)."""
    return lambda v: v if v == "" else check(v)


# ---------------------------------------------------------------- paths

PATH_CHARS = re.compile(r"[A-Za-z0-9._+@,~/-]+")
# what a kernel, systemd unit or /etc/environment line can carry unquoted (no spaces, $, %, :, quotes)


def _abs_path(v: str) -> str:
    if not v.startswith("/"):
        raise ValueError(f"must be an absolute path (starting with /), got {show(v)}")
    if len(v.encode()) > PATH_MAX:
        raise ValueError(f"is too long ({len(v.encode())} bytes; a path is at most {PATH_MAX})")
    if not PATH_CHARS.fullmatch(v):
        bad = next(c for c in v if not PATH_CHARS.fullmatch(c))
        raise ValueError(
            f"must use only ASCII letters, digits and . _ - + @ , ~ / in a path (found {bad!r}), got {show(v)}"
        )
    parts = [p for p in v.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"must not contain '..' (name the directory itself), got {show(v)}")
    long = next((p for p in parts if len(p) > NAME_MAX), None)
    if long:
        raise ValueError(f"has a name longer than {NAME_MAX} characters ({show(long, 30)})")
    return "/" + "/".join(parts)  # duplicate slashes, '.' and a trailing slash normalised away


# Places that must never be ours: we create, chmod and (uninstall) remove our directories.
SYSTEM_DIRS = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/lost+found",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/snap",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/var",
        "/usr/bin",
        "/usr/sbin",
        "/usr/lib",
        "/usr/lib32",
        "/usr/lib64",
        "/usr/libx32",
        "/usr/libexec",
        "/usr/include",
        "/usr/share",
        "/usr/src",
        "/usr/games",
        "/usr/local",
        "/usr/local/bin",
        "/usr/local/sbin",
        "/usr/local/lib",
        "/usr/local/share",
        "/usr/local/etc",
        "/usr/local/include",
        "/usr/local/src",
        "/usr/lib/jvm",
        "/var/lib",
        "/var/log",
        "/var/cache",
        "/var/tmp",
        "/var/spool",
        "/var/run",
        "/var/lock",
        "/var/mail",
        "/var/opt",
        "/var/backups",
        "/var/local",
        "/var/www",
        "/var/lib/dpkg",
        "/var/lib/apt",
        "/var/lib/systemd",
        "/etc/systemd",
        "/etc/systemd/system",
        "/etc/ssh",
        "/etc/ssl",
        "/etc/pam.d",
        "/etc/security",
        "/etc/sudoers.d",
        "/etc/default",
        "/etc/cron.d",
        "/etc/init.d",
        "/etc/apt",
        "/etc/profile.d",
        "/etc/skel",
        "/etc/ld.so.conf.d",
        "/etc/alternatives",
        "/etc/network",
        "/etc/sysctl.d",
        "/etc/modprobe.d",
        "/etc/logrotate.d",
    }
)
# trees nothing of ours may be in: the kernel's, devices and volatile run time
SYSTEM_TREES = ("/proc", "/sys", "/dev", "/run", "/boot")


def system_place(path: str) -> str | None:
    """Why a normalised absolute path must never be ours, or None."""
    if path in SYSTEM_DIRS:
        return f"{path} is a system directory"
    tree = next((t for t in SYSTEM_TREES if path.startswith(t + "/")), None)
    if tree:
        return f"{path} is inside {tree}"
    if re.fullmatch(r"/home/[^/]+", path):
        return f"{path} is a user's home directory"
    return None


def _owned_dir(v: str) -> str:
    v = _abs_path(v)
    why = system_place(v)
    if why:
        raise ValueError(
            f"must be a directory of our own, not a system place ({why}; we create, chmod and "
            f"on uninstall remove it); choose e.g. a new directory below it"
        )
    return v


def _prefix(v: str) -> str:
    v = _abs_path(v)  # the prefix is not ours (/opt is fine): only what we create inside it
    if v == "/" or any(v == t or v.startswith(t + "/") for t in SYSTEM_TREES):
        raise ValueError(f"must be a directory such as /opt or /usr/local, not {v}")
    return v


_SYSTEM_FILES = frozenset(
    {
        "/etc/passwd",
        "/etc/shadow",
        "/etc/group",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/fstab",
        "/etc/hosts",
        "/etc/crontab",
        "/etc/login.defs",
        "/etc/profile",
        "/etc/bash.bashrc",
        "/etc/ld.so.preload",
        "/etc/ld.so.conf",
        "/etc/pam.conf",
        "/etc/nsswitch.conf",
    }
)


def _env_file(v: str) -> str:
    v = _abs_path(v)
    if v in _SYSTEM_FILES or system_place(v):
        raise ValueError(f"must be an environment file such as /etc/environment, not {v}")
    return v


AbsPath = Annotated[str, BeforeValidator(_text), AfterValidator(_abs_path)]
OptAbsPath = Annotated[str, BeforeValidator(_text), AfterValidator(_optional(_abs_path))]
OwnedDir = Annotated[str, BeforeValidator(_text), AfterValidator(_owned_dir)]
OptOwnedDir = Annotated[str, BeforeValidator(_text), AfterValidator(_optional(_owned_dir))]
Prefix = Annotated[str, BeforeValidator(_text), AfterValidator(_prefix)]
EnvFile = Annotated[str, BeforeValidator(_text), AfterValidator(_env_file)]

# ---------------------------------------------------------------- numbers and booleans


def _port(v: int) -> int:
    if not 1 <= v <= 65535:
        raise ValueError(f"must be an integer between 1 and 65535, got {v}")
    return v


Port = Annotated[int, Strict(), AfterValidator(_port)]
Bool = Annotated[bool, Strict()]


def Int(ge: int, le: int):  # noqa: N802 - a type
    return Annotated[int, Strict(), Field(ge=ge, le=le)]


def Seconds(ge: float, le: float):  # noqa: N802 - a type
    return Annotated[float, Strict(), Field(ge=ge, le=le, allow_inf_nan=False)]


# ---------------------------------------------------------------- names

USER_RX = r"[a-z_][a-z0-9_-]{0,31}"
USER_WHAT = "must be a unix user name (lower-case letter or _, then up to 31 of a-z 0-9 _ -)"
UserName = Annotated[str, BeforeValidator(_text), AfterValidator(_pattern(USER_RX, USER_WHAT))]
GroupName = Annotated[
    str, BeforeValidator(_text), AfterValidator(_pattern(USER_RX, "must be unix group names (like sudo or wheel)"))
]


def _kernel_name(v: str) -> str:
    _pattern(r"[A-Za-z0-9._-]{1,128}", "must use only letters, digits, '.', '_' and '-'", 128)(v)
    if not v[0].isalnum():  # '..' or '.hidden': outside the kernels dir, or invisible to jupyter
        raise ValueError(f"must start with a letter or digit, got {show(v)}")
    return v


KernelName = Annotated[str, BeforeValidator(_text), AfterValidator(_kernel_name)]
EnvName = Annotated[
    str,
    BeforeValidator(_text),
    AfterValidator(_optional(_pattern(r"[A-Za-z_][A-Za-z0-9_]{0,127}", "must be an environment variable name"))),
]

VERSION_RX = r"(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})\.(0|[1-9][0-9]{0,3})"
SparkVersion = Annotated[
    str, BeforeValidator(_text), AfterValidator(_pattern(VERSION_RX, "must be a Spark release like 3.5.3 or 4.3.0"))
]

HOST_RX = r"(?=.{1,253}\Z)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"


def ip(v: str, *, allow_any: bool = True) -> str:
    if not re.fullmatch(r"[0-9A-Fa-f.:]{2,45}", v):
        raise ValueError(f"must be an IP address such as 127.0.0.1 or 0.0.0.0, got {show(v)}")
    try:
        addr = ipaddress.ip_address(v)
    except ValueError:
        raise ValueError(f"must be an IP address such as 127.0.0.1 or 0.0.0.0, got {show(v)}") from None
    if addr.is_unspecified and not allow_any:
        raise ValueError(f"must be a concrete address clients can reach, not {v}")
    return v


def _host_or_ip(v: str) -> str:
    try:
        return ip(v)
    except ValueError:
        return _pattern(HOST_RX, "must be DNS names or IP addresses")(v)


IP = Annotated[str, BeforeValidator(_text), AfterValidator(ip)]
ConcreteIP = Annotated[str, BeforeValidator(_text), AfterValidator(lambda v: ip(v, allow_any=False))]
HostOrIP = Annotated[str, BeforeValidator(_text), AfterValidator(_host_or_ip)]


def _site_host(v: str) -> str:
    """A host of a site as the other hosts reach it: an IP address or a DNS name, never loopback or 0.0.0.0."""
    try:
        ip(v)
    except ValueError:
        _pattern(HOST_RX, "must be an IP address or a DNS name the other hosts reach")(v)
        if v.lower() == "localhost" or v.lower().startswith("localhost."):
            raise ValueError(f"must be an address the other hosts reach, not {v}") from None
        return v
    addr = ipaddress.ip_address(v)
    if addr.is_loopback or addr.is_unspecified:
        raise ValueError(f"must be an address the other hosts reach, not {v}")
    return v


SiteHost = Annotated[str, BeforeValidator(_text), AfterValidator(_site_host)]
OptSiteHost = Annotated[str, BeforeValidator(_text), AfterValidator(_optional(_site_host))]

# ---------------------------------------------------------------- URLs and secrets


def _url(v: str) -> str:
    if len(v) > PATH_MAX:
        raise ValueError(f"is too long ({len(v)} characters; at most {PATH_MAX})")
    if not re.fullmatch(r"(https?|file)://[\x21-\x7e]+", v):
        raise ValueError(f"must be an http://, https:// or file:// URL (ASCII, no spaces), got {show(v)}")
    parts = urlsplit(v)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ValueError(f"must be file:///absolute/path (a file on this machine), got {show(v)}")
        _abs_path(parts.path)
    else:
        try:
            host = parts.hostname
            _ = parts.port  # urlsplit checks the port only when it is read
        except ValueError:
            raise ValueError(f"has a bad port, got {show(v)}") from None
        if not host:
            raise ValueError(f"must name a host, got {show(v)}")
        if ":" in host:
            ip(host)  # bracketed IPv6
        else:
            _host_or_ip(host)
    return v


URL = Annotated[str, BeforeValidator(_text), AfterValidator(_optional(_url))]


def _ldap_url(v: str) -> str:
    """ldap://host[:port] or ldaps://host[:port]: the server alone (base and filters are other keys)."""
    if not re.fullmatch(r"ldaps?://[\x21-\x7e]+", v):
        raise ValueError(f"must be ldap://HOST[:PORT] or ldaps://HOST[:PORT], got {show(v)}")
    parts = urlsplit(v)
    try:
        _ = parts.port
    except ValueError:
        raise ValueError(f"has a bad port, got {show(v)}") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment or "@" in parts.netloc:
        raise ValueError(f"must be ldap://HOST[:PORT] or ldaps://HOST[:PORT] (no path, query or user), got {show(v)}")
    host = parts.hostname
    ip(host) if ":" in host else _host_or_ip(host)
    return v


LdapURL = Annotated[str, BeforeValidator(_text), AfterValidator(_optional(_ldap_url))]


def _web_url(v: str) -> str:
    """An http(s):// address a browser opens (no credentials, query or fragment)."""
    if not v.startswith(("http://", "https://")):
        raise ValueError(f"must be an http:// or https:// URL, got {show(v)}")
    _url(v)
    parts = urlsplit(v)
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"must be a plain http(s)://HOST[:PORT][/path] (no user, query or fragment), got {show(v)}")
    return v.rstrip("/")


WebURL = Annotated[str, BeforeValidator(_text), AfterValidator(_optional(_web_url))]


def strip_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


Sha512 = Annotated[
    str,
    BeforeValidator(_text),
    AfterValidator(
        _optional(
            lambda v: _pattern(r"[0-9a-f]{128}", "must be 128 hexadecimal characters (the .sha512 of the tarball)")(
                v.lower()
            )
        )
    ),
]

# crypt(3) formats: $id$[params$]salt$hash, each in its own alphabet
_B64 = r"[./A-Za-z0-9]"
CRYPT_RX = "|".join(
    [
        rf"\$6\$(rounds=[1-9][0-9]{{3,8}}\$)?{_B64}{{1,16}}\${_B64}{{86}}",  # sha512crypt
        rf"\$5\$(rounds=[1-9][0-9]{{3,8}}\$)?{_B64}{{1,16}}\${_B64}{{43}}",  # sha256crypt
        rf"\$y\${_B64}{{1,10}}\${_B64}{{1,86}}\${_B64}{{43}}",  # yescrypt
        rf"\$gy\${_B64}{{1,10}}\${_B64}{{1,86}}\${_B64}{{43}}",  # gost-yescrypt
        rf"\$2[abyx]\$[0-3][0-9]\${_B64}{{53}}",  # bcrypt
        rf"\$7\${_B64}{{11,}}\${_B64}{{43}}",  # scrypt
        rf"\$1\${_B64}{{1,8}}\${_B64}{{22}}",  # md5crypt (weak, but crypt(3) takes it)
    ]
)
CryptHash = Annotated[
    str,
    BeforeValidator(_text),
    AfterValidator(
        _optional(
            _pattern(
                CRYPT_RX,
                "must be a crypt(3) hash such as the output of `openssl passwd -6` ($6$salt$ and 86 characters)",
                512,
                secret=True,
            )
        )
    ),
]


def _spark_master(v: str) -> str:
    m = re.fullmatch(r"local(\[(\*|[1-9][0-9]{0,3})\])?|yarn|spark://([A-Za-z0-9.-]{1,253}):([0-9]{1,5})", v)
    if not m:
        raise ValueError(
            f"must be local[*], local[N], spark://HOST:PORT or yarn (HOST: a host name or IPv4 address), got {show(v)}"
        )
    if m.group(3):
        _host_or_ip(m.group(3))
        if not 1 <= int(m.group(4)) <= 65535:
            raise ValueError(f"port must be between 1 and 65535, got {m.group(4)}")
    return v


SparkMaster = Annotated[str, BeforeValidator(_text), AfterValidator(_spark_master)]


def _spark_opts(v: str) -> str:
    _bounded(TEXT_MAX)(v)
    if not re.fullmatch(r"[A-Za-z0-9 ._,:=/+@%-]*", v):
        raise ValueError(
            "must be plain spark-submit options (ASCII letters, digits, spaces and . _ , : = / + @ % -; "
            "no quotes, $, ;, |, & or newlines)"
        )
    return v


SparkOpts = Annotated[str, BeforeValidator(_text), AfterValidator(_spark_opts)]

# a JVM memory size as Spark reads it; the unit is required (a bare number means bytes to some settings)
MEMORY_WHAT = "must be a size with its unit, like 512m, 1g or 2gb (a number, then k, m, g or t, optionally b)"
Memory = Annotated[str, BeforeValidator(_text), AfterValidator(_pattern(r"(?i)[1-9][0-9]{0,6}[kmgt]b?", MEMORY_WHAT))]


def _port_range(v: str) -> str:
    m = re.fullmatch(r"([0-9]{1,5})\.\.([0-9]{1,5})", v)
    low, high = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
    if not m or not 1024 <= low < high <= 65535 or high - low < 1000:
        raise ValueError(
            f"must be LOW..HIGH with 1024 <= LOW, HIGH <= 65535 and at least 1000 ports "
            f"(e.g. 40000..41000), got {show(v)}"
        )
    return v


PortRange = Annotated[str, BeforeValidator(_text), AfterValidator(_optional(_port_range))]


def port_range(v: str) -> tuple[int, int] | None:
    if not v:
        return None
    low, high = v.split("..")
    return int(low), int(high)


def names(item, max_items: int = LIST_MAX):
    return Annotated[list[item], Strict(), Field(max_length=max_items)]


__all__ = [
    "AbsPath",
    "OptAbsPath",
    "OwnedDir",
    "OptOwnedDir",
    "Prefix",
    "EnvFile",
    "Port",
    "Bool",
    "Int",
    "Seconds",
    "UserName",
    "GroupName",
    "KernelName",
    "EnvName",
    "SparkVersion",
    "IP",
    "ConcreteIP",
    "HostOrIP",
    "SiteHost",
    "OptSiteHost",
    "URL",
    "LdapURL",
    "WebURL",
    "Sha512",
    "CryptHash",
    "SparkMaster",
    "SparkOpts",
    "PortRange",
    "Text",
    "names",
    "show",
    "mask_url",
    "strip_credentials",
    "system_place",
    "port_range",
]
