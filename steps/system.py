"""README: `sudo apt update && sudo apt upgrade` (+ python3-venv: PEP 668 forbids `sudo pip3`)."""

from jeg_wizard import distro
from jeg_wizard.actions import AptInstall, AptUpdate, Directory
from jeg_wizard.engine import Step

from . import proxy

# iproute2: the gateway finds its own address with `ip` (JEG 3.3.0 fails at start without ip or ifconfig)
BASE_PACKAGES = ["python3-venv", "ca-certificates", "procps", "iproute2"]


def apt_packages(ctx) -> list[str]:
    """Every Debian package the install needs; the list refresh is skipped when all are there."""
    pkgs = [*BASE_PACKAGES, distro.java_package(ctx.answers.java.version)]
    return pkgs + proxy.node_packages(ctx)


def build(ctx):
    a = ctx.answers.system
    # 711: the gateway's unprivileged user must reach its own home inside; nobody else may list it
    actions = [Directory(ctx.layout.state_dir, 0o711), Directory(ctx.layout.log_dir, 0o750)]
    if a.apt_update or a.apt_upgrade or ctx.bundle:  # a bundle's lists are its own: always read
        actions.append(AptUpdate(apt_packages(ctx), upgrade=a.apt_upgrade))
    actions.append(AptInstall(BASE_PACKAGES))
    return actions


STEP = Step(
    "system",
    "Update the package lists (upgrade optional); venv support",
    "sudo apt update / apt upgrade",
    build,
    needs=(),
)
