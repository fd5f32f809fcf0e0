"""The install, stage by stage, in the order of the hand-run README (shared/seed-README.md).

Each module builds one Step from small typed actions (jeg_wizard.actions); each action says how
it knows it is already done, so a re-run skips what holds and changes nothing. On a site whose roles
are on separate hosts (answers [site]) each host runs the steps of its part: `for_role`.
"""

from dataclasses import replace

from jeg_wizard.engine import Step

from . import (
    admin_user,
    environment,
    gateway,
    gateway_client,
    health,
    hub,
    hub_config,
    java,
    join,
    kernelspecs,
    proxy,
    services,
    spark,
    spark_smoke,
    system,
)

EVERY_STEP: list[Step] = [
    system.STEP,
    java.STEP,
    spark.STEP,
    environment.STEP,
    spark_smoke.STEP,
    kernelspecs.STEP,
    gateway.STEP,
    join.STEP,
    proxy.STEP,
    hub.STEP,
    gateway_client.STEP,
    admin_user.STEP,
    hub_config.STEP,
    services.STEP,
    health.STEP,
]


def for_role(role: str) -> list[Step]:
    """The steps of one host's part (jeg_wizard.roles), in the same order, titled for it; "all": the
    one-host install."""
    return [replace(s, title=s.titles[role]) if role in s.titles else s for s in EVERY_STEP if role in s.roles]


STEPS: list[Step] = for_role("all")  # the one-host install (the TUI's, and the default)
