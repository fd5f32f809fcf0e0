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


def proxy_version_for(node: int | None) -> str:
    """configurable-http-proxy release that runs on the node present (5.x wants node >= 20)."""
    return "5.3.0" if node is not None and node >= 20 else "4.6.3"


def systemd_running() -> bool:
    # sd_booted(): the directory exists only when PID 1 is systemd
    return os.path.isdir("/run/systemd/system")
