"""README: add SPARK_HOME, JAVA_HOME, PYSPARK_PYTHON, JUPYTER_DATA_DIR, PATH to /etc/environment.

A marked block we own; every other byte of the file stays. The services do not read this file
(no PAM session): the same values also go into their unit/spec and the kernelspec.
"""

from pathlib import Path

from jeg_wizard.actions import EnvBlock
from jeg_wizard.engine import Step

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def variables(ctx):
    L = ctx.layout

    def values(outside: str) -> dict[str, str]:
        # pam_env does not expand $VARS here: write PATH out in full, keeping an existing PATH line
        path = SYSTEM_PATH
        for line in outside.splitlines():
            if line.strip().startswith("PATH="):
                path = line.split("=", 1)[1].strip().strip('"')
        extra = [f"{L.spark_home}/bin", f"{L.java_home}/bin"]
        parts = extra + [p for p in path.split(":") if p and p not in extra]
        return {
            "SPARK_HOME": str(L.spark_home),
            "JAVA_HOME": str(L.java_home),
            "PYSPARK_PYTHON": L.pyspark_python,
            "JUPYTER_DATA_DIR": str(L.kernels_root),
            "PATH": ":".join(parts),
        }

    return values


def build(ctx):
    return [EnvBlock(Path(ctx.answers.environment.file), variables(ctx))]


STEP = Step(
    "environment",
    "Set the environment variables",
    "sudo vim /etc/environment",
    build,
    roles=("all", "gateway", "worker"),
    needs=("system",),
)
