"""A standalone Spark master (spark://) and its workers, through the master's web UI."""

from __future__ import annotations

import os

from . import httpget
from .finding import Finding, ok, problem, unknown
from .install import Install

C = "spark"


def master(site: Install) -> list[Finding]:
    """Also the quick part (the Finish panel). Nothing to check for local[*] or yarn."""
    L = site.L
    url = L.spark_master_webui
    if not url:
        return []
    where = site.a.spark.master
    try:
        r = site.get(f"{url}/json/")
    except httpget.errors() as e:
        if L.role == "worker":
            from .gateway import why_unreachable

            return [
                problem(
                    C,
                    "master",
                    f"worker host {L.worker_ip} cannot reach the Spark master on gateway host "
                    f"{site.a.site.gateway_host} ({url}/json/): {why_unreachable(e, site.timeout)}",
                    f"on the gateway host {site.a.site.gateway_host}: jeg-wizard services status spark-master",
                )
            ]
        return [
            problem(
                C,
                "master",
                f"{where} is unreachable ({url}/json/ does not answer)",
                "jeg-wizard services restart spark-master spark-worker",
                site.log("spark-master"),
            )
        ]
    try:
        info = r.json()
    except ValueError:
        info = None
    if r.status_code != 200 or not isinstance(info, dict):
        return [
            unknown(
                C,
                "master",
                f"{url}/json/ answers HTTP {r.status_code} without the master's state",
                "jeg-wizard services restart spark-master spark-worker",
                site.log("spark-master"),
            )
        ]
    alive = [w for w in info.get("workers", []) if isinstance(w, dict) and w.get("state") == "ALIVE"]
    hosts = {str(w.get("host", "")) for w in alive}
    if L.role == "worker":  # this worker, as the master sees it
        if L.worker_ip in hosts:
            return [ok(C, "worker", f"{L.worker_ip} is a live worker of {where}")]
        return [
            problem(
                C,
                "worker",
                f"worker host {L.worker_ip} is not a live worker of the master on gateway host "
                f"{site.a.site.gateway_host} ({len(alive)} live: {', '.join(sorted(hosts)) or 'none'})",
                "jeg-wizard services restart spark-worker; the gateway host must reach this host back "
                f"({L.worker_ip}, the worker's ports)",
                site.log("spark-worker"),
            )
        ]
    missing = [h for h in site.a.site.worker_hosts if h not in hosts]
    if missing:  # the gateway host: each worker host the site names, by name
        return [
            problem(
                C,
                "workers",
                f"{where} has no live worker from worker host {', '.join(missing)} ({len(alive)} live: "
                f"{', '.join(sorted(hosts)) or 'none'})",
                f"on {', '.join(missing)}: jeg-wizard install --role worker (or jeg-wizard services restart "
                f"spark-worker); it must reach {site.a.site.gateway_host} on the master's port",
            )
        ]
    if not alive:
        return [
            problem(
                C,
                "workers",
                f"{where} has no live worker: jobs wait forever ('Initial job has not accepted any resources')",
                "jeg-wizard services restart spark-worker",
                site.log("spark-worker"),
            )
        ]
    cores = f", {info['cores']} cores" if isinstance(info.get("cores"), int) else ""
    return [ok(C, "master", f"{where}: {len(alive)} worker(s){cores}")]


def executor_python(site: Install) -> Finding:
    """A worker host runs a kernel's Python tasks with the path the driver names (PYSPARK_PYTHON)."""
    python = site.L.pyspark_python
    if os.access(python, os.X_OK):
        return ok(C, "executor python", f"{python} (PYSPARK_PYTHON) runs Python tasks here")
    return problem(
        C,
        "executor python",
        f"worker host {site.L.worker_ip} has no {python} (PYSPARK_PYTHON): a kernel's Python tasks fail here "
        "('Cannot run program')",
        "jeg-wizard install --role worker (its kernelspecs step makes that Python)",
    )


def check(site: Install) -> list[Finding]:
    return master(site) + ([executor_python(site)] if site.L.role == "worker" else [])
