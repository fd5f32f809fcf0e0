"""README: `sudo apt install openjdk-8-jdk` (Debian 12 ships only 17; answers choose)."""

from jeg_wizard import distro
from jeg_wizard.actions import AptInstall, command_check
from jeg_wizard.engine import Step


def build(ctx):
    v = ctx.answers.java.version
    java = str(ctx.layout.java_home / "bin" / "java")
    actions = []
    if not ctx.answers.java.home:  # a given JAVA_HOME is the operator's own JDK: do not apt it
        actions.append(AptInstall([distro.java_package(v)]))
    actions.append(
        command_check(
            f"Java {v} at {ctx.layout.java_home}", [java, "-version"], f'version "{v}' if v > 8 else 'version "1.8'
        )
    )
    return actions


STEP = Step(
    "java",
    "Install Java",
    "sudo apt install openjdk-8-jdk",
    build,
    roles=("all", "gateway", "worker"),
    needs=("system",),
)
