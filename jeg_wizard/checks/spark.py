"""A standalone Spark master (spark://) and its workers, through the master's web UI."""

from __future__ import annotations

import httpx

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
    except httpx.HTTPError:
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
    alive = [w for w in info.get("workers", []) if w.get("state") == "ALIVE"]
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


check = master
