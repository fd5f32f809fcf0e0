"""What this machine is: distribution, Java packages it ships, node, systemd."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

JAVA_VERSIONS = (8, 11, 17, 21)

# OpenJDK major versions with an apt candidate, by (ID, VERSION_ID); measured / from the archives.
APT_JAVA = {
    ("debian", "11"): (11, 17),
    ("debian", "12"): (17,),
    ("debian", "13"): (21, 25),
    ("ubuntu", "20.04"): (8, 11, 17, 21),
    ("ubuntu", "22.04"): (8, 11, 17, 21),
    ("ubuntu", "24.04"): (8, 11, 17, 21),
}


@dataclass(frozen=True)
class Distro:
    id: str
    version_id: str
    pretty: str

    @property
    def apt_java(self) -> tuple[int, ...] | None:
        """Java majors apt can install here, or None when we do not know this distribution."""
        return APT_JAVA.get((self.id, self.version_id))


def detect(os_release: str = "/etc/os-release") -> Distro:
    fields: dict[str, str] = {}
    try:
        for line in Path(os_release).read_text().splitlines():
            if "=" in line:
                k, v = line.split("=", 1)
                fields[k] = v.strip().strip('"')
    except OSError:
        pass
    return Distro(fields.get("ID", "unknown"), fields.get("VERSION_ID", ""), fields.get("PRETTY_NAME", "unknown"))


def spark_javas(spark_version: str) -> tuple[int, ...]:
    """Java majors a Spark release runs on."""
    major, minor = (int(x) for x in spark_version.split(".")[:2])
    if major < 3:
        return (8,)
    if major == 3 and minor < 3:
        return (8, 11)
    if major == 3:
        return (8, 11, 17)
    return (17, 21)


def spark_java_problems(spark_version: str, java: int, dist: Distro) -> list[str]:
    problems = []
    ok = spark_javas(spark_version)
    if java not in ok:
        problems.append(
            f"java.version: Spark {spark_version} needs Java {' or '.join(map(str, ok))}, got Java {java}; "
            f"set java.version to {ok[-1]}"
        )
        return problems
    shipped = dist.apt_java
    if shipped is not None and java not in shipped:
        usable = [j for j in ok if j in shipped]
        fix = (
            f"choose java.version = {usable[-1]}"
            if usable
            else f"choose a Spark release that runs on Java {' or '.join(map(str, shipped))} "
            f"(Spark 3.5.x runs on 8/11/17, Spark 4.x on 17/21)"
        )
        problems.append(
            f"java.version: Spark {spark_version} needs Java {' or '.join(map(str, ok))}, which "
            f"{dist.pretty} does not ship (apt has Java {', '.join(map(str, shipped))}); {fix}"
        )
    return problems


def default_java(dist: Distro | None = None) -> int:
    """The Java the default Spark (4.x: 17 or 21) gets here: 17 where apt ships it, else 21 (Debian 13)."""
    shipped = (dist or detect()).apt_java
    return 21 if shipped is not None and 17 not in shipped and 21 in shipped else 17


# The oldest Python each Spark release's Python side runs on (pyspark's Requires-Python on PyPI).
SPARK_PYTHON = {(4, 3): (3, 11), (4, 2): (3, 10), (4, 1): (3, 10), (4, 0): (3, 9)}


def spark_python_min(spark_version: str) -> tuple[int, int]:
    major, minor = (int(x) for x in spark_version.split(".")[:2])
    if (major, minor) in SPARK_PYTHON:
        return SPARK_PYTHON[(major, minor)]
    return (3, 11) if (major, minor) > max(SPARK_PYTHON) else (3, 8)


def default_spark(python: tuple[int, int]) -> str:
    """The newest Spark release proven here that runs on this Python (Ubuntu 22.04 has 3.10)."""
    return "4.3.0" if python >= (3, 11) else "4.2.1"


def java_package(version: int) -> str:
    return f"openjdk-{version}-jdk-headless"


def java_home(version: int) -> str:
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"/usr/lib/jvm/java-{version}-openjdk-{arch}"


def node_major() -> int | None:
    node = shutil.which("node")
    if not node:
        return None
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def node_packages() -> list[str]:
    """The apt packages still needed for node and npm (a node from elsewhere may come without npm)."""
    if node_major() is None:
        return ["nodejs", "npm"]
    return [] if shutil.which("npm") else ["npm"]


def proxy_version_for(node: int | None) -> str:
    """configurable-http-proxy release that runs on the node present (5.x wants node >= 20)."""
    return "5.3.0" if node is not None and node >= 20 else "4.6.3"


def systemd_running() -> bool:
    # sd_booted(): the directory exists only when PID 1 is systemd
    return os.path.isdir("/run/systemd/system")


def choices(a) -> list[str]:
    """What the detected distribution changed in this install, one line each (plan, welcome screen)."""
    dist, node = detect(), node_major()
    shipped = dist.apt_java
    java = (
        f"Java {a.java.version} from apt ({dist.pretty} ships {', '.join(map(str, shipped))})"
        if shipped
        else f"Java {a.java.version} from apt (this distribution's Java packages are not known to the wizard)"
    )
    proxy = (
        a.proxy.version
        if a.proxy.version != "auto"
        else proxy_version_for(node or APT_NODE.get((dist.id, dist.version_id)))
    )
    node_text = f"node {node}" if node else f"node from apt ({' and '.join(node_packages())})"
    return [
        java,
        f"configurable-http-proxy {proxy} for {node_text}",
        f"Python {python_version(a.system.python)} ({a.system.python}) builds the venvs; PEP 668: nothing is pip-installed into it",
        "services as systemd units (journalctl -u jeg-gateway / jeg-hub)"
        if (a.services.manager == "systemd" or (a.services.manager == "auto" and systemd_running()))
        else "services as supervised processes (PID 1 is not systemd)",
    ]


# node major in the distribution's own nodejs package, for a machine that has none yet
APT_NODE = {("debian", "12"): 18, ("debian", "13"): 20, ("ubuntu", "22.04"): 12, ("ubuntu", "24.04"): 18}


def python_version(python: str) -> str:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        out = ""
    return out or "(not found)"
