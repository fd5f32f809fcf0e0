"""The install, stage by stage, in the order of the hand-run README (shared/seed-README.md).

Each module builds one Step from small typed actions (jeg_wizard.actions); each action says how
it knows it is already done, so a re-run skips what holds and changes nothing.
"""

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
    kernelspecs,
    proxy,
    services,
    spark,
    spark_smoke,
    system,
)

STEPS: list[Step] = [
    system.STEP,
    java.STEP,
    spark.STEP,
    environment.STEP,
    spark_smoke.STEP,
    kernelspecs.STEP,
    gateway.STEP,
    proxy.STEP,
    hub.STEP,
    gateway_client.STEP,
    admin_user.STEP,
    hub_config.STEP,
    services.STEP,
    health.STEP,
]
