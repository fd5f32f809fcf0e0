"""Services: the gateway, the hub and a standalone Spark cluster, started and stopped by their manager."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx

from .. import testhook
from ..health import tls_verify
from ..services import ProcessManager, ServiceSpec, SystemdManager, log_ref, manager, unit_name, wait_http
from .records import Op, Phase, Record, Undo

STOP_ORDER = ("hub", "gateway", "spark-worker", "spark-master")  # users' side first, Spark last


@dataclass
class ServiceRecord(Record):
    name: str
    manager: str = ProcessManager.kind
    kind = "service"
    phase = Phase.SERVICES

    def key(self) -> tuple:
        return ("service", self.name)

    def merge(self, later: Record) -> Record:
        return later  # the manager that started it last

    def sort_key(self) -> tuple:
        return (STOP_ORDER.index(self.name) if self.name in STOP_ORDER else -1,)

    def undo(self, u: Undo) -> list[Op]:
        if self.manager == SystemdManager.kind:
            sm = SystemdManager(u.layout.services_dir, runner=u.runner)
            unit = sm.unit_dir / f"jeg-{self.name}.service"

            def stop_unit() -> None:
                sm.stop(self.name)  # and its user servers (KillMode=process keeps them)
                u.runner.systemctl("disable", "--now", unit.name)
                u.runner.remove(unit)
                u.runner.systemctl("daemon-reload")

            return [Op(f"stop service {self.name} and remove its unit {unit}", stop_unit)]
        pm = ProcessManager(u.layout.services_dir)
        pid = pm.pid(self.name)
        return [
            Op(
                f"stop service {self.name} ({'running, pid ' + str(pid) if pid else 'not running'})",
                lambda: u.runner.effect(f"stop {self.name}", lambda: pm.stop(self.name)),
            )
        ]


@dataclass
class ServiceRunning:
    """The service runs with exactly this spec (restarted when the spec or its env file changed)."""

    spec_fn: object  # Callable[[], ServiceSpec]: rendered late, after the config files exist
    mgr_kind: str
    services_dir: Path
    verify_only = False

    @property
    def spec(self) -> ServiceSpec:
        return self.spec_fn()

    @property
    def title(self) -> str:
        return f"service {self.spec.name} running"

    def mgr(self, runner=None):
        return manager(self.mgr_kind, self.services_dir, runner)

    @staticmethod
    def _answers(spec: ServiceSpec) -> bool:
        if not spec.ready_url:
            return True
        try:
            return (
                httpx.get(spec.ready_url, timeout=3, verify=tls_verify(spec.ready_verify)).status_code
                in spec.ready_codes
            )
        except httpx.HTTPError:
            return False

    def done(self, ctx) -> bool:
        spec = self.spec
        # and answering: one a killed run started is not done until it is ready
        return self.mgr(ctx.runner).running_digest(spec.name) == spec.digest() and self._answers(spec)

    def preview(self, ctx) -> list[str]:
        spec = self.spec
        m = self.mgr(ctx.runner)
        how = f"systemctl enable --now {unit_name(spec)}" if m.kind == "systemd" else "supervised process"
        return [
            f"# start {spec.name} ({how}), log: {log_ref(m.kind, spec.name, spec.log)}",
            f"$ {ctx.runner.show(spec.argv)}",
            f"# wait for {spec.ready_url}" if spec.ready_url else "",
        ]

    def apply(self, ctx) -> None:
        spec = self.spec
        m = self.mgr(ctx.runner)
        ctx.record(ServiceRecord(spec.name, m.kind))  # before: a kill mid-start still knows
        ctx.runner.effect(
            f"start {spec.name} ({m.kind}): {ctx.runner.show(spec.argv)}", lambda: self._start(ctx, spec, m)
        )

    def _wait(self, spec: ServiceSpec, m) -> float:
        return wait_http(
            spec.ready_url,
            timeout=90,
            log=log_ref(m.kind, spec.name, spec.log),
            pid=lambda: m.pid(spec.name),
            codes=tuple(spec.ready_codes),
            verify=spec.ready_verify,
        )

    def _start(self, ctx, spec: ServiceSpec, m) -> None:
        running = m.running_digest(spec.name)
        if running == spec.digest() and spec.ready_url:  # started by an interrupted run: give it its time
            try:
                secs = self._wait(spec, m)
                ctx.runner.emit(
                    f"{spec.name} (started by an earlier run) answers at {spec.ready_url} after {secs:.1f}s"
                )
                return
            except RuntimeError:
                ctx.runner.emit(f"restarting {spec.name}: it runs but does not answer")
        if running is not None:
            if running != spec.digest():
                ctx.runner.emit(f"restarting {spec.name}: its configuration changed")
            m.stop(spec.name)
        m.start(spec)
        testhook.pause(f"mid {self.title}")
        if spec.ready_url:
            secs = self._wait(spec, m)
            ctx.runner.emit(f"{spec.name} answers at {spec.ready_url} after {secs:.1f}s")
