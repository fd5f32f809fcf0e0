"""Answers that are well-formed but cannot work on this machine, found before anything changes: part
of the pre-change gate (preflight.problems), so the CLI and the TUI refuse them alike.

Only looks: stat, getpwnam, a bind to port 0 on an address (released at once), never a change.
"""

from __future__ import annotations

import errno
import os
import pwd
import re
import socket
import stat
from pathlib import Path
from urllib.parse import unquote, urlsplit

from . import distro
from .layout import Layout

TYPE_CHECKING = False
if TYPE_CHECKING:
    from .answers import Answers

LOGIN_DEFS = "/etc/login.defs"


def problems(a: Answers, role: str = "all") -> list[str]:
    return [
        *owned_dirs_resolved(a),
        *places_usable(a, role),
        *space_problems(a, role),
        *(hub_accounts(a) if role in ("all", "hub") else []),
        *addresses_here(a, role),
        *programs_exist(a),
        *file_urls_exist(a),
        *service_manager_here(a),
        *secret_files(a),
    ]


def _resolved(path: str) -> str:
    """Where path lands once the symlinks on the way that exist are followed (nothing is created)."""
    return os.path.realpath(path)


def _owned_dirs(a: Answers) -> dict[str, str]:
    """The directories we create (and on uninstall remove), by the answer that names them."""
    L = Layout(a)
    return {
        "system.state_dir": a.system.state_dir,
        "system.log_dir": a.system.log_dir,
        "hub.config_dir": a.hub.config_dir,
        "kernels.dir": a.kernels.dir,
        "kernels.name": str(L.kernel_dir),
        "gateway.venv": str(L.gateway_venv),
        "hub.venv": str(L.hub_venv),
        "kernels.venv": str(L.kernel_venv),
        "proxy.prefix": str(L.proxy_prefix),
    }


def owned_dirs_resolved(a: Answers) -> list[str]:
    """A directory of ours must not be a system place through a symlink either (/srv/x -> /etc)."""
    from .values import system_place  # the answers' value rules (pydantic): not on the checks' path

    out = []
    for key, path in _owned_dirs(a).items():
        real = _resolved(path)
        why = system_place(real) if real != path else None
        if why:
            out.append(
                f"{key}: {path} leads through a symlink to {real}, and {why}; it must never be ours "
                f"(we create, chmod and on uninstall remove it)"
            )
    return out


def _file_in_the_way(path: str) -> Path | None:
    """The file (no directory) that path, or a parent of it, is: no directory can be made or used there."""
    p = Path(path)
    place = next((q for q in (p, *p.parents) if os.path.lexists(q)), p)
    return None if not os.path.lexists(place) or place.is_dir() else place  # a link to a directory is one


def _in_the_way(key: str, place: Path, path: str) -> str:
    on_the_way = "" if str(place) == path else f" (it is on the way to {path})"
    return f"{key}: {place} exists and is not a directory{on_the_way}; choose another path or move it away"


def places_usable(a: Answers, role: str = "all") -> list[str]:
    """Paths the install makes that a file already holds, found now rather than half-way through the install:
    our directories (or a parent of one) and the Spark symlink; a given JAVA_HOME must hold a java."""
    out, seen = [], set()
    for key, path in {"system.prefix": a.system.prefix, **_owned_dirs(a)}.items():
        place = _file_in_the_way(path)
        if place and place not in seen:  # one line per file in the way
            seen.add(place)
            out.append(_in_the_way(key, place, path))
    if role not in ("all", "gateway", "worker"):  # the hosts that install Java and Spark
        return out
    link = Layout(a, role).spark_link
    if os.path.lexists(link) and not link.is_symlink():
        out.append(
            f"spark.home: {link} exists and is not a symlink (the install points it at the Spark it installs); "
            f"move it away or set spark.home to another path"
        )
    elif place := _file_in_the_way(str(link.parent)):
        out.append(_in_the_way("spark.home", place, str(link.parent)))
    if a.java.home and (why := _executable(f"{a.java.home}/bin/java")):
        out.append(
            f"java.home: no java to run at {a.java.home}/bin/java ({why}); name the directory of an installed "
            f"JDK, or leave it empty for apt's"
        )
    return out


# MiB each part takes where it is installed, and what the installers hold in the temp directory meanwhile
# (PyPI's pyspark: its sdist, unpacked and staged; the venvs' wheels): an install of the defaults measured
# 479 (Spark), 410 (hub), 114 (gateway), 126 (kernel) and 9 (proxy) at the end and 1.1-1.3 GiB more at its
# peak; a quarter more here. Counted only for the parts not there yet.
SPACE_MIB = {
    "spark": 600,
    "spark_tmp": 1500,
    "hub": 520,
    "gateway": 150,
    "kernel": 160,
    "proxy": 20,
    "jvm_archive": 200,
}


def _device_of(path: Path) -> tuple[int, Path]:
    """The file system a path is (or will be) on: that of its nearest existing ancestor."""
    for place in (path, *path.parents):
        try:
            return os.stat(place).st_dev, place
        except OSError:
            continue
    return os.stat("/").st_dev, Path("/")


def space_problems(a: Answers, role: str = "all") -> list[str]:
    """The parts still to install, against the free space of the file systems they go to (a disk that fills
    half-way through leaves a venv or Spark's tree half-made)."""
    import shutil
    import tempfile

    L = Layout(a, role)
    parts: list[tuple[str, Path, int]] = []  # (the answer naming the place, where, MiB)
    pypi = a.spark.source == "pypi"
    if L.runs("gateway", "worker") and not (L.spark_dir / ("pyspark/bin" if pypi else "bin")).exists():
        parts.append(("system.prefix", L.spark_dir, SPACE_MIB["spark"]))  # a tarball: it and its tree
        if pypi:
            parts.append(("TMPDIR", Path(tempfile.gettempdir()), SPACE_MIB["spark_tmp"]))
    venvs = [("hub.venv", L.hub_venv, "hub", ("hub",)), ("gateway.venv", L.gateway_venv, "gateway", ("gateway",))]
    venvs += [("kernels.venv", L.kernel_venv, "kernel", ("gateway",))]
    for key, venv, part, roles in venvs:
        if L.runs(*roles) and not (venv / "bin" / "python").exists():
            parts.append((key, venv, SPACE_MIB[part]))
    if L.runs("hub") and not (L.proxy_prefix / "node_modules").exists():
        parts.append(("proxy.prefix", L.proxy_prefix, SPACE_MIB["proxy"]))
    if L.kernel_jvm_archive and L.runs("gateway") and not L.kernel_jvm_archive.exists():
        parts.append(("kernels.jvm_archive", L.kernel_jvm_archive, SPACE_MIB["jvm_archive"]))
    need: dict[int, tuple[Path, int, list[str]]] = {}
    for key, where, mib in parts:
        dev, there = _device_of(where)
        _, total, keys = need.get(dev, (there, 0, []))
        need[dev] = (there, total + mib, keys if key in keys else [*keys, key])
    out = []
    for there, mib, keys in need.values():
        free = shutil.disk_usage(there).free // 2**20
        if free < mib:
            out.append(
                f"{keys[0]}: the install needs about {mib / 1024:.1f} GiB free on the file system of {there} "
                f"({', '.join(keys)} go there), and {free / 1024:.1f} GiB is free; free some space (df -h) or "
                f"choose places on another disk"
            )
    return out


def uid_range(login_defs: str = LOGIN_DEFS) -> tuple[int, int]:
    """(UID_MIN, UID_MAX) of /etc/login.defs: the uids useradd gives people; (1000, 60000) by default."""
    found = {"UID_MIN": 1000, "UID_MAX": 60000}
    try:
        text = Path(login_defs).read_text(errors="replace")
    except OSError:
        return found["UID_MIN"], found["UID_MAX"]
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] in found and parts[1].isascii() and parts[1].isdigit():
            found[parts[0]] = int(parts[1])
    return found["UID_MIN"], found["UID_MAX"]


def not_a_person(name: str) -> int | None:
    """The uid of an existing account no hub user may be: root (uid 0 under any name) or a system account
    (uid outside UID_MIN..UID_MAX, /etc/login.defs); None for a regular account or one not made yet."""
    try:
        uid = pwd.getpwnam(name).pw_uid
    except KeyError:
        return None
    lo, hi = uid_range()
    return None if uid and lo <= uid <= hi else uid


def hub_accounts(a: Answers) -> list[str]:
    """Who may log in to the hub (users.admin, users.allowed): never root nor a system account, when the
    user already exists here (else the install creates a regular one)."""
    lo, hi = uid_range()
    out = []
    for key, names in (("users.admin", [a.users.admin]), ("users.allowed", a.users.allowed)):
        for name in names:
            uid = not_a_person(name)
            if uid is None:
                continue
            if uid == 0:
                out.append(f"{key}: '{name}' has uid 0 (it is root under another name); choose a regular user")
            else:
                out.append(
                    f"{key}: '{name}' is a system account here (uid {uid}, outside UID_MIN..UID_MAX "
                    f"{lo}..{hi} in {LOGIN_DEFS}); hub users must be regular accounts"
                )
    return out


def address_here(ip: str) -> bool:
    """ip is one of this machine's addresses (0.0.0.0 and :: always are): a bind to port 0 succeeds."""
    if ip in ("0.0.0.0", "::"):
        return True
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((ip, 0))
    except OSError as e:
        return e.errno not in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EINVAL)
    return True


def addresses_here(a: Answers, role: str = "all") -> list[str]:
    out = []
    for key, ip in Layout(a, role).listen_addresses:
        if not address_here(ip):
            out.append(
                f"{key}: {ip} is not an address of this machine (on no interface here), so nothing could "
                f"listen on it; choose one of this machine's addresses, 127.0.0.1 or 0.0.0.0"
            )
    return out


def _executable(path: str) -> str | None:
    """Why path is no program we can run, or None."""
    try:
        st = os.stat(path)
    except OSError as e:
        return e.strerror.lower() if e.strerror else "cannot be read"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if not os.access(path, os.X_OK):
        return "is not executable"
    return None


def programs_exist(a: Answers) -> list[str]:
    why = _executable(a.system.python)
    if why:
        return [
            f"system.python: {a.system.python} {why}; the venvs are built with it (install python3 and "
            f"python3-venv, or name an existing interpreter)"
        ]
    return []


def file_urls_exist(a: Answers) -> list[str]:
    if a.spark.source != "url" or not a.spark.url.startswith("file:"):
        return []
    path = unquote(urlsplit(a.spark.url).path)
    try:
        st = os.stat(path)
    except OSError as e:
        return [f"spark.url: {path}: {e.strerror}; a file:// URL must name a tarball on this machine"]
    if not stat.S_ISREG(st.st_mode):
        return [f"spark.url: {path} is not a regular file"]
    return []


def service_manager_here(a: Answers) -> list[str]:
    if a.services.manager == "systemd" and not distro.systemd_running():
        return [
            "services.manager: 'systemd' was chosen but systemd is not running here (PID 1 is not systemd); "
            "choose 'process' or 'auto'"
        ]
    return []


def secret_files(a: Answers) -> list[str]:
    """A given gateway token file: a private regular file (read now, not half-way through the install)."""
    from .secrets import SecretError, read_private_file

    if not a.gateway.token_file or not os.path.lexists(a.gateway.token_file):
        return []
    try:
        token = read_private_file(Path(a.gateway.token_file), "gateway.token_file")
    except SecretError as e:
        return [str(e)]
    except OSError as e:
        return [f"gateway.token_file: cannot read {a.gateway.token_file}: {e.strerror}"]
    # every user server gets this token in its environment: it must be a token, not some other private file
    if token and not re.fullmatch(r"[\x21-\x7e]{16,1024}", token):
        return [
            f"gateway.token_file: {a.gateway.token_file} does not hold a token (one line of 16 to 1024 printable "
            f"ASCII characters, no spaces); every user server receives its content, so it must be a token "
            f"made for the gateway (leave gateway.token_file empty to generate one)"
        ]
    return []
